"""Batched generation on the tiny exported model: a sequence decodes the same whatever
it is batched with (greedy fp32 and seeded samples), each stops by its own rule, and
batches stay within the KV-cache budget."""
from __future__ import annotations

import numpy as np
import pytest

from engine.models.batching import generation_cost, group_by_length
from engine.models.generation import GenerationSettings
from engine.models.protocol import ContextLengthError
from tests.test_models_runtime import QUESTIONS, SYSTEM

EXTRA = ["fever", "which scan is safe in pregnancy? A. ct B. ultrasound",
         "the radiograph shows a fracture of the right wrist and effusion. what next?",
         "mass"]


def chat_prompts(model, n: int) -> list[str]:
    """Prompts of different lengths sharing the system prompt, as a run's open items do."""
    questions = (QUESTIONS + EXTRA) * 2
    return [model.render_chat([{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": questions[i]}]) for i in range(n)]


def texts(gens) -> list[str]:
    return [g.text for g in gens]


def assert_batched_equals_alone(model, prompts: list[str], s: GenerationSettings
                                ) -> list[list[int]]:
    """Greedy texts batched equal one at a time; returns the batches the model formed."""
    alone = [model.generate(p, s) for p in prompts]
    batched = model.generate_batch(prompts, [s] * len(prompts))
    assert texts(batched) == texts(alone)
    return model._generation_groups([model._decode_request(model.encode(p), s)
                                     for p in prompts])


def test_batched_greedy_equals_one_at_a_time(tiny_model):
    prompts = chat_prompts(tiny_model, 10)
    assert len({tiny_model.count_tokens(p) for p in prompts}) > 4   # padding really happens
    s = GenerationSettings(max_new_tokens=20)
    alone = [tiny_model.generate(p, s) for p in prompts]
    for size in (3, 8, 16):
        tiny_model.generation_batch_size = size
        batched = tiny_model.generate_batch(prompts, [s] * len(prompts))
        assert texts(batched) == texts(alone), size
        assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in alone]
        assert [g.finish_reason for g in batched] == [g.finish_reason for g in alone]
    # Composition does not matter: the same prompts in another order, with other company.
    order = list(reversed(range(len(prompts))))
    shuffled = tiny_model.generate_batch([prompts[i] for i in order], [s] * len(prompts))
    assert texts(shuffled) == [alone[i].text for i in order]


def test_batch_latency_shares_add_up_to_the_wall_time(tiny_model):
    import time
    prompts = chat_prompts(tiny_model, 6)
    t = time.perf_counter()
    gens = tiny_model.generate_batch(prompts, [GenerationSettings(max_new_tokens=12)] * 6)
    wall = (time.perf_counter() - t) * 1000.0
    shares = sum(g.latency_ms for g in gens)
    assert all(g.latency_ms > 0 for g in gens)
    assert 0.5 * wall < shares <= wall


def test_each_sequence_stops_by_its_own_rule(tiny_model):
    prompts = chat_prompts(tiny_model, 4)
    free = [tiny_model.generate(p, GenerationSettings(max_new_tokens=30)) for p in prompts]
    stop = free[1].text[8:12]
    assert stop and free[1].text.find(stop) > 0
    settings = [GenerationSettings(max_new_tokens=30),
                GenerationSettings(max_new_tokens=30, stop=[stop]),
                GenerationSettings(max_new_tokens=5),
                GenerationSettings(max_new_tokens=0)]
    gens = tiny_model.generate_batch(prompts, settings)
    assert gens[0].text == free[0].text and gens[0].finish_reason == "length"
    assert gens[1].text == free[1].text[:free[1].text.find(stop)]
    assert gens[1].finish_reason == "stop" and gens[1].completion_tokens < 30
    assert gens[2].completion_tokens == 5 and free[2].text.startswith(gens[2].text)
    assert (gens[3].text, gens[3].completion_tokens, gens[3].finish_reason) == ("", 0, "length")


def test_end_of_turn_stops_one_sequence_and_not_the_others(tiny_model):
    prompts = chat_prompts(tiny_model, 3)
    s = GenerationSettings(max_new_tokens=15)
    before = [tiny_model.generate(p, s) for p in prompts]
    # Make the greedy first token of prompt 0 the end-of-turn token (and not the others').
    firsts = [int(np.argmax(row)) for row in tiny_model.next_token_logits(prompts)]
    assert firsts[0] not in tiny_model.encode(before[1].text + before[2].text)
    tiny_model.stop_token_ids = {firsts[0]}
    gens = tiny_model.generate_batch(prompts, [s] * 3)
    assert (gens[0].text, gens[0].finish_reason, gens[0].completion_tokens) == ("", "stop", 1)
    assert texts(gens[1:]) == texts(before[1:])


def test_samples_are_reproducible_from_the_seed_whatever_the_batch(tiny_model):
    prompts = chat_prompts(tiny_model, 5)
    sampled = [GenerationSettings(max_new_tokens=16, temperature=1.0, top_p=0.95, seed=k)
               for k in range(5)]
    alone = [tiny_model.generate(prompts[0], s) for s in sampled]
    assert len(set(texts(alone))) > 1                          # seeds really differ
    # k samples of one item as one batch ...
    together = tiny_model.generate_batch([prompts[0]] * 5, sampled)
    assert texts(together) == texts(alone)
    # ... and one sample among other prompts, greedy and sampled.
    mixed = tiny_model.generate_batch(prompts, [sampled[3]] + sampled[1:])
    assert mixed[0].text == alone[3].text


def test_a_prompt_that_does_not_fit_fails_the_batch_with_its_index(tiny_model):
    long_prompt = " ".join(["fever cough consolidation"] * 200)
    prompts = chat_prompts(tiny_model, 2) + [long_prompt]
    with pytest.raises(ContextLengthError, match="prompt 2 has"):
        tiny_model.generate_batch(prompts, [GenerationSettings()] * 3)
    with pytest.raises(Exception, match="3 prompts but 2 settings"):
        tiny_model.generate_batch(prompts, [GenerationSettings()] * 2)


def test_window_end_stops_one_sequence_with_context(tiny_model):
    near_full = " ".join(["fever"] * (tiny_model.context_length - 3))
    n = tiny_model.count_tokens(near_full)
    short = chat_prompts(tiny_model, 1)[0]
    s = GenerationSettings(max_new_tokens=20)
    tiny_model.generation_batch_size = 2
    gens = tiny_model.generate_batch([near_full, short], [s, s])
    assert gens[0].finish_reason == "context"
    assert gens[0].completion_tokens == tiny_model.context_length - n
    assert gens[1].text == tiny_model.generate(short, s).text


def test_kv_cache_budget_bounds_a_decoding_batch():
    free = lambda rows, width: 0.0                        # noqa: E731  no prefill bound
    # 1000 bytes of KV per token, budget 100k bytes: rows * (width + 20) <= 100 tokens.
    cost = generation_cost(free, kv_bytes_per_token=1000, new_tokens=20, kv_budget=100_000)
    groups = group_by_length([10, 10, 10, 10, 30, 30], batch_size=16, pad_multiple=1,
                             cost=cost)
    assert sorted(i for g in groups for i in g) == list(range(6))
    for g in groups:
        width = max([10, 10, 10, 10, 30, 30][i] for i in g)
        assert len(g) * (width + 20) <= 100
    assert max(len(g) for g in groups) == 3            # 3 * 30 = 90 fits, 4 * 30 does not


def test_session_record_states_the_generation_batch(tiny_model):
    assert tiny_model.session_info["generation_batch_size"] == tiny_model.generation_batch_size


def test_int8_batched_generation_is_bitwise_one_at_a_time(tiny_model_store, workspace):
    """Quantised weights quantise activations, so every prompt is padded from the start to
    whole lanes of the probed pad multiple, alone or batched: then a batch of prompts of
    any lengths decodes exactly as each alone, and batches are not split by length."""
    from engine.models.registry import load_model
    from tests.fixtures.models import copy_models

    copy_models(tiny_model_store, workspace, "chatml-int8")
    model = load_model(workspace, tiny_model_store.names["chatml-int8"])
    prompts = chat_prompts(model, 12)
    lengths = [model.count_tokens(p) for p in prompts]
    groups = assert_batched_equals_alone(model, prompts, GenerationSettings(max_new_tokens=16))
    assert any(len({lengths[i] for i in g}) > 1 for g in groups)   # padding really happens
    # lengths of different residues share a batch: the lane padding makes that exact
    assert any(len({lengths[i] % model.pad_multiple for i in g}) > 1 for g in groups)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m-fp32", "smollm2-135m-int8"])
def test_default_model_batched_answers_equal_one_at_a_time(default_model_ws, name):
    """The real default model on demo open prompts, as a run renders them: fp32 pads
    freely, int8 keeps to its probed pad multiple; both give each prompt's text alone."""
    from pathlib import Path

    from engine.conditions import build_open_prompt
    from engine.models.registry import load_model
    from engine.runs.profiles import PROFILES
    from engine.suites.io import load_suite

    suite = load_suite(Path(__file__).resolve().parent.parent / "assets" / "suites"
                       / "demo-open-safety")
    model = load_model(default_model_ws, name)
    settings = PROFILES["demo"].settings
    prompts = [build_open_prompt("closed_book", item, model, None, settings).prompt_text
               for item in suite.items[:16]]
    groups = assert_batched_equals_alone(model, prompts, GenerationSettings(max_new_tokens=16))
    assert max(len(g) for g in groups) >= 4      # really batched
