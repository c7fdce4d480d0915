"""max_context: relevance-ordered chunks packed until the window is full.

The window is the model's context length (capped by `max_context_tokens` in
a demo profile) minus the answer budget. Chunks go in strictly by relevance
and packing stops at the first that does not fit, so what is left unused is
always less than that next chunk: the window is full to within one chunk.
"""
from __future__ import annotations

from engine.conditions.base import chunk_record, fit_chunks, mcq_plan, window_of
from engine.conditions.plan import OpenEvidence, PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.standard_rag import require_corpus
from engine.conditions.template import PromptModel, chunk_passage
from engine.suites.schema import McqItem, OpenItem


def build(item: McqItem, model: PromptModel, corpus, settings: ConditionSettings) -> PromptPlan:
    corpus = require_corpus(corpus, "max_context")
    window = window_of(model, settings, capped=True)
    budget = window - settings.answer_budget
    ranked = corpus.query(item.question, min(corpus.count, settings.max_context_candidates))
    n, tokens = fit_chunks(item, model, settings, ranked, budget)
    kept = ranked[:n]
    return mcq_plan("max_context", item, model, settings, [chunk_passage(c) for c in kept],
                    query=item.question, chunk_ids=[c.id for c in kept],
                    chunks=[chunk_record(c) for c in kept], window=window,
                    answer_budget=settings.answer_budget, token_limit=budget,
                    context_tokens=tokens, unused_tokens=budget - tokens,
                    next_chunk_id=ranked[n].id if n < len(ranked) else None,
                    corpus_exhausted=n == len(ranked))


def find_open(item: OpenItem, model: PromptModel, corpus,
              settings: ConditionSettings) -> OpenEvidence:
    """For an open-ended request: every candidate chunk in relevance order; the packing
    into the window is done by open_items, as for any condition."""
    return OpenEvidence(chunks=corpus.query(item.prompt,
                                            min(corpus.count, settings.max_context_candidates)))
