"""Open-ended items (harmful, benign-boundary, adversarial prompts) as plain chat turns.

They carry no item evidence, so under clean/conflict evidence they are the
plain turn; under the RAG conditions they get retrieved context only when
`open_items_under_rag` asks for it (the question is then whether retrieval
makes a model more willing to comply). `condition_applied` records which.
"""
from __future__ import annotations

from typing import Any

from engine.conditions.agentic_rag import search_loop
from engine.conditions.base import chunk_record, fit_count, window_of
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.standard_rag import require_corpus
from engine.conditions.template import chunk_passage, evidence_block, render_open
from engine.suites.schema import OpenItem

RAG = ("standard_rag", "agentic_rag", "max_context")


def build_open(condition: str, item: OpenItem, model, corpus,
               settings: ConditionSettings) -> PromptPlan:
    aux: list[dict[str, Any]] = []
    ctx: dict[str, Any] = {"condition_applied": False, "chunk_ids": []}
    chunks: list = []
    if condition in RAG and settings.open_items_under_rag:
        corpus = require_corpus(corpus, condition)
        ctx["condition_applied"] = True
        if condition == "standard_rag":
            chunks = corpus.query(item.prompt, settings.rag_k)
        elif condition == "max_context":
            chunks = corpus.query(item.prompt, min(corpus.count, settings.max_context_candidates))
        else:
            outcome = search_loop(f"Request: {item.prompt}", model, corpus, settings)
            chunks, aux = outcome.chunks, outcome.aux_calls
            ctx.update(outcome.context(outcome.chunks))
    elif condition == "closed_book":
        ctx["condition_applied"] = True

    passages = [chunk_passage(c) for c in chunks]
    window = window_of(model, settings, capped=condition == "max_context")
    budget = window - settings.open_answer_budget

    def render(ps: list[str]) -> str:
        return render_open(model, item.prompt, evidence_block(ps))

    n, tokens = fit_count(model, render, passages, budget, f"item {item.id}") if passages \
        else (0, model.count_tokens(render([])))
    kept = chunks[:n]
    evidence = evidence_block(passages[:n])
    ctx.update({"evidence_text": evidence, "passages": n, "chunk_ids": [c.id for c in kept],
                "chunks": [chunk_record(c) for c in kept], "prompt_tokens": tokens,
                "dropped_chunk_ids": [c.id for c in chunks[n:]] if condition != "max_context"
                else [], "truncated": condition != "max_context" and n < len(chunks)})
    if condition == "max_context" and ctx["condition_applied"]:
        ctx.update({"window": window, "token_limit": budget,
                    "unused_tokens": budget - tokens, "corpus_exhausted": n == len(chunks)})
    return PromptPlan(condition=condition, prompt_text=render(passages[:n]), letters=[],
                      context=ctx, aux_calls=aux)
