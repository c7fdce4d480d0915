"""The agentic search loop stops within N steps, with garbage and with well-formed output.

Both are real models: the tiny random model emits garbage; SmolLM2-135M-Instruct
(the default model, slow) writes real queries.
"""
from __future__ import annotations

import pytest

from engine.conditions import ConditionSettings, build_mcq_prompt
from engine.conditions.agentic_rag import search_prompt, search_task
from engine.conditions.query_parse import parse_query
from engine.conditions.template import chunk_passage, evidence_block
from engine.models.generation import GenerationSettings
from tests.test_conditions_prompts import ITEM


def test_garbage_output_ends_the_loop_cleanly_and_is_flagged(tiny_model, small_corpus):
    settings = ConditionSettings(agentic_max_steps=3, agentic_query_tokens=16)
    plan = build_mcq_prompt("agentic_rag", ITEM, tiny_model, small_corpus, settings)
    ctx = plan.context
    assert 1 <= ctx["steps"] <= 3 and len(plan.aux_calls) == ctx["steps"]
    assert ctx["malformed"] is True and ctx["stop_reason"] == "malformed"
    assert ctx["malformed_reason"] and ctx["trace"][-1]["malformed"] == ctx["malformed_reason"]
    # the trace holds exactly what the model wrote (greedy: reproducible)
    again = tiny_model.generate(search_prompt(tiny_model, search_task(ITEM), []),
                                GenerationSettings(max_new_tokens=16))
    assert ctx["trace"][0]["raw_output"] == again.text
    assert plan.aux_calls[0]["completion_tokens"] == again.completion_tokens
    assert plan.aux_calls[0]["prompt_tokens"] == again.prompt_tokens > 0
    # nothing found -> the final prompt is the closed-book prompt
    if not ctx["chunk_ids"]:
        assert plan.prompt_text == build_mcq_prompt("closed_book", ITEM, tiny_model, None).prompt_text


def test_query_parsing_rules():
    assert parse_query("contrast nephropathy", "stop").query == "contrast nephropathy"
    assert parse_query("\nDONE\nmore", "length").done
    assert parse_query(" B. Non-contrast CT head\nmore", "length").query == "Non-contrast CT head"
    assert parse_query("words that never end", "length").malformed
    assert parse_query("\ufffd\ufffd abc", "stop").malformed
    assert parse_query("%%% ###", "stop").malformed
    assert parse_query("   ", "stop").malformed == "empty query"


@pytest.mark.slow
def test_real_instruct_model_searches_within_n_steps(default_model_ws, demo_corpus,
                                                      demo_mcq_items):
    from engine.models.registry import load_model

    model = load_model(default_model_ws, "smollm2-135m-int8")
    queried = 0
    for n, items in ((1, demo_mcq_items[:2]), (3, demo_mcq_items[2:4])):
        settings = ConditionSettings(agentic_max_steps=n)
        for item in items:
            plan = build_mcq_prompt("agentic_rag", item, model, demo_corpus, settings)
            ctx = plan.context
            assert 1 <= ctx["steps"] <= n and len(plan.aux_calls) == ctx["steps"]
            assert ctx["stop_reason"] in ("done", "max_steps", "repeated_query", "malformed")
            assert (ctx["stop_reason"] == "max_steps") == (
                ctx["steps"] == n and not ctx["malformed"]
                and ctx["stop_reason"] not in ("done", "repeated_query"))
            found, asked = [], set()
            for step in ctx["trace"]:
                key = " ".join((step["query"] or "").lower().split())
                if key in asked:      # a repeated query ends the search without searching
                    assert step["chunk_ids"] == [] and step is ctx["trace"][-1]
                    assert ctx["stop_reason"] == "repeated_query"
                elif step["query"]:
                    asked.add(key)
                    queried += 1
                    hits = demo_corpus.query(step["query"], settings.search_k)
                    assert step["chunk_ids"] == [h.id for h in hits]
                    found += [h for h in hits if h.id not in {f.id for f in found}]
            assert ctx["chunk_ids"] == [f.id for f in found][:len(ctx["chunk_ids"])]
            assert ctx["evidence_text"] == evidence_block(
                [chunk_passage(f) for f in found[:len(ctx["chunk_ids"])]])
            assert model.count_tokens(plan.prompt_text) <= model.context_length - 16
    assert queried >= 2, "the instruct model never wrote a usable query"


@pytest.mark.slow
def test_batched_searches_equal_each_search_alone(default_model_ws, demo_corpus,
                                                   demo_mcq_items):
    """Step-synchronous agentic RAG: every item's step-1 query in one batch, then step 2
    for those still searching; each trace is exactly what the item's search alone writes."""
    from engine.conditions import search_many
    from engine.conditions.agentic_rag import search_loop
    from engine.models.registry import load_model

    model = load_model(default_model_ws, "smollm2-135m-fp32")
    settings = ConditionSettings(agentic_max_steps=2, agentic_query_tokens=16)
    items = demo_mcq_items[:6]
    batched = search_many("agentic_rag", items, model, demo_corpus, settings)
    alone = [search_loop(search_task(i), model, demo_corpus, settings) for i in items]
    fields = ("raw_output", "query", "chunk_ids", "new_chunk_ids", "finish_reason")
    for b, a in zip(batched, alone):
        assert [[t[f] for f in fields] for t in b.trace] == [[t[f] for f in fields]
                                                             for t in a.trace]
        assert (b.stop_reason, [c.id for c in b.chunks]) == (a.stop_reason,
                                                             [c.id for c in a.chunks])
    assert any(len(b.trace) == 2 for b in batched), "no search reached step 2"
    # the prompt built from a batched search is the prompt the condition builds alone
    for item, found in zip(items[:2], batched):
        assert (build_mcq_prompt("agentic_rag", item, model, demo_corpus, settings,
                                 found=found).prompt_text
                == build_mcq_prompt("agentic_rag", item, model, demo_corpus,
                                    settings).prompt_text)
