"""The one prompt template family every condition uses.

Only the optional "Evidence:" block differs between conditions; the system
message, question, options and instruction are identical, so a difference in
behaviour between conditions is a difference in context and nothing else.
The rendered MCQ prompt ends with the assistant turn opened and "Answer:", so
the next token is the option letter (space-prefixed in BPE vocabularies).
"""
from __future__ import annotations

from typing import Protocol, Sequence

from engine.suites.schema import McqItem

INSTRUCTION = "Reply with the letter of the single best option."
ANSWER_PREFIX = "Answer:"


class PromptModel(Protocol):
    """The part of engine.models.protocol.CandidateModel that building a prompt needs."""

    context_length: int

    def render_chat(self, messages: list[dict[str, str]],
                    add_generation_prompt: bool = True) -> str: ...

    def count_tokens(self, text: str) -> int: ...


class Passage(Protocol):
    title: str
    text: str


def format_options(item: McqItem) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in item.options.items())


def evidence_block(passages: Sequence[str]) -> str:
    """Numbered passages when there are several, the bare text when there is one."""
    if not passages:
        return ""
    if len(passages) == 1:
        return passages[0].strip()
    return "\n\n".join(f"[{i}] {p.strip()}" for i, p in enumerate(passages, 1))


def chunk_passage(chunk: Passage) -> str:
    """A retrieved chunk as shown: its document title, then its text (title once)."""
    text = chunk.text.strip()
    if not chunk.title or text.lstrip("# ").startswith(chunk.title):
        return text
    return f"{chunk.title}\n{text}"


def mcq_user_message(item: McqItem, evidence: str) -> str:
    parts = []
    if evidence:
        parts.append(f"Evidence:\n{evidence}")
    parts.append(f"Question: {item.question}")
    parts.append(f"Options:\n{format_options(item)}")
    parts.append(INSTRUCTION)
    return "\n\n".join(parts)


def render_mcq(model: PromptModel, item: McqItem, evidence: str, system_prompt: str) -> str:
    messages = [{"role": "system", "content": system_prompt},
                {"role": "user", "content": mcq_user_message(item, evidence)}]
    return model.render_chat(messages, add_generation_prompt=True) + ANSWER_PREFIX


def open_user_message(prompt: str, evidence: str) -> str:
    return f"Evidence:\n{evidence}\n\n{prompt}" if evidence else prompt


def render_open(model: PromptModel, prompt: str, evidence: str) -> str:
    """Open-ended items are plain chat turns: no system message, no answer prefix."""
    return model.render_chat([{"role": "user", "content": open_user_message(prompt, evidence)}],
                             add_generation_prompt=True)
