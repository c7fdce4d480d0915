"""Open-ended items (harmful, benign-boundary, adversarial prompts) as plain chat turns.

They carry no item evidence, so under clean/conflict evidence they are the
plain turn; under the RAG conditions they get retrieved context only when
`open_items_under_rag` asks for it (the question is then whether retrieval
makes a model more willing to comply). `condition_applied` records which.
"""
from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from engine.conditions.base import chunk_record, fit_count, window_of
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.standard_rag import require_corpus
from engine.conditions.template import chunk_passage, evidence_block, render_open
from engine.suites.schema import OpenItem

if TYPE_CHECKING:  # the registry imports this module
    from engine.conditions.agentic_rag import SearchOutcome
    from engine.conditions.registry import Condition


class OpenItems(str, Enum):
    """What a condition does with open-ended items, which carry no evidence passages.

    PLAIN_TURN: always planned here, as the plain chat turn (where open items are recorded).
    NOTHING_TO_ADD: not planned, since the condition adds item evidence open items lack;
    built anyway, the prompt is the plain turn marked "not applied".
    RETRIEVED_IF_ASKED: planned only with `open_items_under_rag`, and then the request
    gets this condition's retrieved context (its `find_open`).
    """

    PLAIN_TURN = "plain_turn"
    NOTHING_TO_ADD = "nothing_to_add"
    RETRIEVED_IF_ASKED = "retrieved_if_asked"


def build_open(spec: Condition, item: OpenItem, model, corpus,
               settings: ConditionSettings, found: SearchOutcome | None = None) -> PromptPlan:
    """The open turn under `spec`: what it retrieves (its `find_open`, or the model search
    `found` beforehand) is fitted to the window here, the same way for every retrieval
    condition."""
    condition, fills = spec.name, spec.fills_window
    aux: list[dict[str, Any]] = []
    ctx: dict[str, Any] = {"condition_applied": False, "chunk_ids": []}
    chunks: list = []
    if spec.find_open is not None and settings.open_items_under_rag:
        corpus = require_corpus(corpus, condition)
        ctx["condition_applied"] = True
        if found is not None and spec.model_search is not None:
            retrieved = spec.model_search.found_open(found)
        else:
            retrieved = spec.find_open(item, model, corpus, settings)
        chunks, aux = retrieved.chunks, retrieved.aux_calls
        ctx.update(retrieved.context)
    elif spec.open_items is OpenItems.PLAIN_TURN:
        ctx["condition_applied"] = True

    passages = [chunk_passage(c) for c in chunks]
    window = window_of(model, settings, capped=fills)
    budget = window - settings.open_answer_budget

    def render(ps: list[str]) -> str:
        return render_open(model, item.prompt, evidence_block(ps))

    n, tokens = fit_count(model, render, passages, budget, f"item {item.id}") if passages \
        else (0, model.count_tokens(render([])))
    kept = chunks[:n]
    evidence = evidence_block(passages[:n])
    ctx.update({"evidence_text": evidence, "passages": n, "chunk_ids": [c.id for c in kept],
                "chunks": [chunk_record(c) for c in kept], "prompt_tokens": tokens,
                "dropped_chunk_ids": [c.id for c in chunks[n:]] if not fills else [],
                "truncated": not fills and n < len(chunks)})
    if fills and ctx["condition_applied"]:
        ctx.update({"window": window, "token_limit": budget,
                    "unused_tokens": budget - tokens, "corpus_exhausted": n == len(chunks)})
    return PromptPlan(condition=condition, prompt_text=render(passages[:n]), letters=[],
                      context=ctx, aux_calls=aux)
