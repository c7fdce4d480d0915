"""agentic_rag: the model drives the search, then answers from what it found.

Each step the model sees the question (and, for MCQs, the options), the
evidence found so far, and is asked for one search query or DONE. The query is
run against the corpus; new chunks join the evidence. The loop ends on DONE, a
repeated query, a malformed turn (flagged), or after `agentic_max_steps`
searches. The final prompt is the shared template with the found chunks as
evidence. Every query, raw model output and chunk id is kept in the trace, and
each search turn's cost goes to `aux_calls`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.conditions.base import chunk_record, fit_chunks, mcq_plan, window_of
from engine.conditions.plan import OpenEvidence, PromptPlan
from engine.conditions.query_parse import parse_query
from engine.conditions.settings import ConditionSettings
from engine.conditions.standard_rag import require_corpus
from engine.conditions.template import chunk_passage, evidence_block, format_options
from engine.hashing import sha256_text
from engine.suites.schema import McqItem, OpenItem

SEARCH_SYSTEM = ("You are a clinical research assistant with a search tool over a local "
                 "reference library.")
SEARCH_INSTRUCTION = ("Write one short search query (a few keywords) that would find evidence "
                      "to answer the question. If the evidence found so far is already enough, "
                      "write DONE instead. Reply with the query only.")
QUERY_PREFIX = "Search query:"


@dataclass
class SearchOutcome:
    chunks: list = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    aux_calls: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "max_steps"
    malformed: bool = False
    malformed_reason: str | None = None

    def context(self, kept: list) -> dict[str, Any]:
        return {"trace": self.trace, "steps": len(self.trace), "stop_reason": self.stop_reason,
                "malformed": self.malformed, "malformed_reason": self.malformed_reason,
                "queries": [t["query"] for t in self.trace if t.get("query")],
                "found_chunk_ids": [c.id for c in self.chunks],
                "chunk_ids": [c.id for c in kept], "chunks": [chunk_record(c) for c in kept],
                "dropped_chunk_ids": [c.id for c in self.chunks[len(kept):]],
                "truncated": len(kept) < len(self.chunks)}


def search_prompt(model, task: str, found: list) -> str:
    parts = [task]
    if found:
        parts.append("Evidence found so far:\n" + evidence_block([chunk_passage(c) for c in found]))
    parts.append(SEARCH_INSTRUCTION)
    messages = [{"role": "system", "content": SEARCH_SYSTEM},
                {"role": "user", "content": "\n\n".join(parts)}]
    return model.render_chat(messages, add_generation_prompt=True) + QUERY_PREFIX


def _fits(model, prompt: str, settings: ConditionSettings) -> bool:
    return model.count_tokens(prompt) + settings.agentic_query_tokens <= window_of(model, settings)


@dataclass
class _Search:
    """One task's search in progress."""

    task: str
    outcome: SearchOutcome = field(default_factory=SearchOutcome)
    seen: set[str] = field(default_factory=set)
    queries: set[str] = field(default_factory=set)
    searching: bool = True


def search_loop(task: str, model, corpus, settings: ConditionSettings) -> SearchOutcome:
    """Run the model-driven search; never more than `agentic_max_steps` model calls."""
    return search_many([task], model, corpus, settings)[0]


def search_many(tasks: list[str], model, corpus, settings: ConditionSettings
                ) -> list[SearchOutcome]:
    """The searches of many tasks, step-synchronously: every task's step-1 query is
    written in one batch (`generate_batch`), run against the corpus, then step 2 for the
    tasks still searching, and so on. Each task's search is exactly what it would be alone:
    a step depends only on that task's own prompt and evidence found so far."""
    from engine.models.generation import GenerationSettings

    searches = [_Search(t) for t in tasks]
    gen_settings = GenerationSettings(max_new_tokens=settings.agentic_query_tokens,
                                      temperature=0.0)
    for step in range(1, settings.agentic_max_steps + 1):
        asking: list[tuple[_Search, str]] = []
        for search in searches:
            if not search.searching:
                continue
            prompt = search_prompt(model, search.task, search.outcome.chunks)
            if _fits(model, prompt, settings):
                asking.append((search, prompt))
            else:
                search.outcome.stop_reason, search.searching = "window_full", False
        if not asking:
            break
        gens = model.generate_batch([p for _, p in asking], [gen_settings] * len(asking))
        for (search, prompt), gen in zip(asking, gens):
            search.searching = _take_turn(search, step, prompt, gen, corpus, settings)
    return [s.outcome for s in searches]


def _take_turn(search: _Search, step: int, prompt: str, gen, corpus,
               settings: ConditionSettings) -> bool:
    """Record one search turn and run its query; False (the search ends) on DONE, a
    repeated or malformed query."""
    out = search.outcome
    out.aux_calls.append({"kind": "agentic_search", "step": step,
                          "prompt_sha256": sha256_text(prompt),
                          "prompt_tokens": gen.prompt_tokens,
                          "completion_tokens": gen.completion_tokens,
                          "latency_ms": round(gen.latency_ms, 3),
                          "finish_reason": gen.finish_reason})
    parsed = parse_query(gen.text, gen.finish_reason)
    entry: dict[str, Any] = {"step": step, "raw_output": gen.text,
                             "finish_reason": gen.finish_reason, "query": parsed.query,
                             "chunk_ids": [], "new_chunk_ids": []}
    out.trace.append(entry)
    if parsed.malformed:
        entry["malformed"] = parsed.malformed
        out.malformed, out.malformed_reason, out.stop_reason = True, parsed.malformed, "malformed"
        return False
    if parsed.done:
        out.stop_reason = "done"
        return False
    key = " ".join(parsed.query.lower().split())
    if key in search.queries:
        out.stop_reason = "repeated_query"
        return False
    search.queries.add(key)
    hits = corpus.query(parsed.query, settings.search_k)
    entry["chunk_ids"] = [h.id for h in hits]
    for h in hits:
        if h.id not in search.seen:
            search.seen.add(h.id)
            out.chunks.append(h)
            entry["new_chunk_ids"].append(h.id)
    return True


def search_task(item: McqItem | OpenItem) -> str:
    """What the model is asked to find evidence for: the question and options, or the request."""
    if isinstance(item, OpenItem):
        return f"Request: {item.prompt}"
    return f"Question: {item.question}\n\nOptions:\n{format_options(item)}"


def build(item: McqItem, model, corpus, settings: ConditionSettings) -> PromptPlan:
    corpus = require_corpus(corpus, "agentic_rag")
    return build_found(item, model, settings, search_loop(search_task(item), model, corpus,
                                                          settings))


def build_found(item: McqItem, model, settings: ConditionSettings,
                outcome: SearchOutcome) -> PromptPlan:
    """The MCQ prompt from a finished search (run alone, or batched by search_many)."""
    budget = window_of(model, settings) - settings.answer_budget
    n, _ = fit_chunks(item, model, settings, outcome.chunks, budget)
    kept = outcome.chunks[:n]
    plan = mcq_plan("agentic_rag", item, model, settings, [chunk_passage(c) for c in kept],
                    **outcome.context(kept))
    plan.aux_calls = outcome.aux_calls
    return plan


def find_open(item: OpenItem, model, corpus, settings: ConditionSettings) -> OpenEvidence:
    """For an open-ended request: the same model-driven search, with the request as the task."""
    return found_open(search_loop(search_task(item), model, corpus, settings))


def found_open(outcome: SearchOutcome) -> OpenEvidence:
    return OpenEvidence(chunks=outcome.chunks, aux_calls=outcome.aux_calls,
                        context=outcome.context(outcome.chunks))
