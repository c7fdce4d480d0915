"""Shared by the condition modules: turn chosen evidence into a PromptPlan."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel, chunk_passage, evidence_block, render_mcq
from engine.errors import SafeVetError
from engine.suites.schema import McqItem


def window_of(model: PromptModel, settings: ConditionSettings, capped: bool = False) -> int:
    """The context window a condition may use: the model's; for max_context (`capped`),
    limited by the profile's `max_context_tokens`."""
    window = int(model.context_length)
    if capped and settings.max_context_tokens is not None:
        window = min(window, settings.max_context_tokens)
    return window


def chunk_record(chunk: Any) -> dict[str, Any]:
    return {"id": chunk.id, "doc_id": chunk.doc_id, "score": chunk.score}


def mcq_plan(condition: str, item: McqItem, model: PromptModel, settings: ConditionSettings,
             passages: Sequence[str], **context: Any) -> PromptPlan:
    evidence = evidence_block(list(passages))
    prompt = render_mcq(model, item, evidence, settings.system_prompt)
    ctx: dict[str, Any] = {"evidence_text": evidence, "passages": len(passages),
                           "chunk_ids": [], "prompt_tokens": model.count_tokens(prompt)}
    ctx.update(context)
    return PromptPlan(condition=condition, prompt_text=prompt, letters=list(item.options),
                      context=ctx)


def fit_count(model: PromptModel, render: Callable[[list[str]], str], passages: list[str],
              budget: int, what: str) -> tuple[int, int]:
    """Largest n such that render(passages[:n]) fits in `budget` tokens.

    Prompt length grows with n, so a binary search needs only log2(len) renders.
    Returns (n, prompt tokens at n).
    """
    def tokens(n: int) -> int:
        return model.count_tokens(render(passages[:n]))

    base = tokens(0)
    if base > budget:
        raise SafeVetError(f"{what}: the prompt alone takes {base} tokens, more than the "
                           f"{budget} the window leaves after the answer budget")
    lo, hi, at_lo = 0, len(passages), base
    while lo < hi:
        mid = (lo + hi + 1) // 2
        t = tokens(mid)
        if t <= budget:
            lo, at_lo = mid, t
        else:
            hi = mid - 1
    return lo, at_lo


def fit_chunks(item: McqItem, model: PromptModel, settings: ConditionSettings,
               chunks: list, budget: int) -> tuple[int, int]:
    """How many of `chunks` (in order) fit in an MCQ prompt of `budget` tokens."""
    def render(passages: list[str]) -> str:
        return render_mcq(model, item, evidence_block(passages), settings.system_prompt)

    return fit_count(model, render, [chunk_passage(c) for c in chunks], budget, f"item {item.id}")
