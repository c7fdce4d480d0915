"""max_context with the real default model on the demo corpus: full and capped windows."""
from __future__ import annotations

import pytest

from engine.conditions import ConditionSettings, build_mcq_prompt
from engine.conditions.template import chunk_passage, evidence_block, render_mcq


@pytest.mark.slow
@pytest.mark.parametrize("cap", [None, 1024])
def test_max_context_never_exceeds_and_fills_the_window(default_model_ws, demo_corpus,
                                                        demo_mcq_items, cap):
    from engine.models.registry import load_model

    model = load_model(default_model_ws, "smollm2-135m-int8")
    settings = ConditionSettings(max_context_tokens=cap)
    window = min(model.context_length, cap or model.context_length)
    ranked_all = None
    for item in demo_mcq_items[:2]:
        plan = build_mcq_prompt("max_context", item, model, demo_corpus, settings)
        ctx = plan.context
        used = model.count_tokens(plan.prompt_text)
        assert ctx["window"] == window and used == ctx["context_tokens"]
        assert used <= window - settings.answer_budget
        ranked_all = demo_corpus.query(item.question, demo_corpus.count)
        n = len(ctx["chunk_ids"])
        assert ctx["chunk_ids"] == [c.id for c in ranked_all[:n]]
        assert not ctx["corpus_exhausted"], "the demo corpus is larger than the window"
        one_more = render_mcq(model, item, evidence_block(
            [chunk_passage(c) for c in ranked_all[:n + 1]]), settings.system_prompt)
        assert model.count_tokens(one_more) > window - settings.answer_budget
        print(f"\n{item.id}: window {window}, {n} chunks, {used} tokens, "
              f"{ctx['unused_tokens']} unused")
