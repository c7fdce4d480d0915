"""standard_rag: the top-k corpus chunks for the question.

If the k chunks would not fit in the window (a small model, a capped
profile), the lowest-ranked are dropped and the drop is recorded, rather than
letting the runtime refuse the prompt.
"""
from __future__ import annotations

from engine.conditions.base import chunk_record, fit_chunks, mcq_plan, window_of
from engine.conditions.plan import OpenEvidence, PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel, chunk_passage
from engine.errors import SafeVetError
from engine.suites.schema import McqItem, OpenItem


def require_corpus(corpus, condition: str):
    if corpus is None:
        raise SafeVetError(f"condition {condition} needs a corpus (--corpus NAME)")
    return corpus


def build(item: McqItem, model: PromptModel, corpus, settings: ConditionSettings) -> PromptPlan:
    chunks = require_corpus(corpus, "standard_rag").query(item.question, settings.rag_k)
    budget = window_of(model, settings) - settings.answer_budget
    n, _ = fit_chunks(item, model, settings, chunks, budget)
    kept, dropped = chunks[:n], chunks[n:]
    return mcq_plan("standard_rag", item, model, settings, [chunk_passage(c) for c in kept],
                    query=item.question, k=settings.rag_k,
                    chunk_ids=[c.id for c in kept], chunks=[chunk_record(c) for c in kept],
                    dropped_chunk_ids=[c.id for c in dropped], truncated=bool(dropped))


def find_open(item: OpenItem, model: PromptModel, corpus,
              settings: ConditionSettings) -> OpenEvidence:
    """For an open-ended request: the same top-k search, run on the request itself."""
    return OpenEvidence(chunks=corpus.query(item.prompt, settings.rag_k))
