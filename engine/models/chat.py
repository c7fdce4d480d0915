"""Chat-template rendering with the model's own Jinja template, without transformers.

The template ships in the model's tokenizer_config.json; rendering it the way
transformers does (sandboxed Jinja, trim/lstrip blocks, raise_exception) means
the prompt a model sees in SafeVet is the one it was trained on.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from engine.errors import SafeVetError


class TemplateError(SafeVetError):
    """The model's chat template refused the conversation or could not be rendered."""


@lru_cache(maxsize=16)
def _compile(template: str):
    from jinja2.exceptions import TemplateError as JinjaTemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise JinjaTemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
               separators=None, sort_keys: bool = False) -> str:
        import json
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(template: str | None, messages: list[dict[str, str]],
                add_generation_prompt: bool = True, **special_tokens: Any) -> str:
    """Render `messages` with `template`; `special_tokens` supplies bos_token, eos_token..."""
    if not template:
        raise TemplateError("this model has no chat template; re-import it from a source "
                            "whose tokenizer_config.json carries one")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TemplateError(f"message {i} needs 'role' and 'content'")
    from jinja2.exceptions import TemplateError as JinjaTemplateError
    try:
        return _compile(template).render(messages=messages,
                                         add_generation_prompt=add_generation_prompt,
                                         **special_tokens)
    except JinjaTemplateError as exc:
        raise TemplateError(f"chat template refused the conversation: {exc}") from exc
