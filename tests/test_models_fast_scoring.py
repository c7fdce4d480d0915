"""The last-position LM head (issue 10) gives the same results as the exported full head."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import IntegrityError
from engine.models.runtime import CandidateModel, GenerationSettings
from tests.test_models_runtime import LETTERS, QUESTIONS, mcq_prompts


def _open(ws, name: str, head: str) -> CandidateModel:
    from engine.models.registry import model_dir, verify_files
    manifest = verify_files(ws, name, use_cache=True)
    return CandidateModel(model_dir(ws, name), manifest, provider="cpu", scoring_head=head)


def _max_diff(a, b) -> float:
    return max(abs(x.logprobs[k] - y.logprobs[k]) for x, y in zip(a, b) for k in x.logprobs)


def _both(ws, name):
    last, full = _open(ws, name, "last"), _open(ws, name, "full")
    assert last.session_info["scoring_head"] == "last"
    assert last.session.get_outputs()[0].shape[1] == 1
    assert full.session.get_outputs()[0].shape[1] != 1
    return last, full


@pytest.mark.parametrize("key", ["chatml", "chatml-int8"])
def test_last_head_equals_full_head(tiny_model_store, workspace, key):
    from tests.fixtures.models import copy_models
    copy_models(tiny_model_store, workspace, key)
    last, full = _both(workspace, tiny_model_store.names[key])
    evidence = "the ct scan shows consolidation in the right lower lobe with effusion. " * 3
    prompts = mcq_prompts(last) + mcq_prompts(last, [evidence + q for q in QUESTIONS])
    letters = LETTERS * 2
    ref = full.score_options(prompts, letters)                    # batched, prefix reuse
    for m in (last, full):
        m.batch_size, m.reuse_prefix = 1, False
    alone_full = [full.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    alone_last = [last.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    last.batch_size, last.reuse_prefix = 8, True
    batched = last.score_options(prompts, letters)
    assert last._prefix_cache is not None
    assert _max_diff(alone_last, alone_full) < 1e-4
    assert _max_diff(batched, ref) < 1e-4
    assert _max_diff(batched, alone_full) < 1e-4
    assert np.abs(last.next_token_logits(prompts) - full.next_token_logits(prompts)).max() < 1e-4


def test_generation_unchanged(tiny_model_store, workspace):
    from tests.fixtures.models import copy_models
    copy_models(tiny_model_store, workspace, "chatml")
    last, full = _both(workspace, tiny_model_store.names["chatml"])
    prompt = last.render_chat([{"role": "user", "content": QUESTIONS[0]}])
    a = last.generate(prompt, GenerationSettings(max_new_tokens=24))
    b = full.generate(prompt, GenerationSettings(max_new_tokens=24))
    assert (a.text, a.completion_tokens) == (b.text, b.completion_tokens)


def test_changed_model_file_is_refused_by_the_derivation(tiny_model_ws):
    from engine.models.registry import get_manifest, model_dir
    from engine.models.scoring_graph import last_position_graph
    ws, name = tiny_model_ws
    path = model_dir(ws, name) / get_manifest(ws, name).onnx_file
    with pytest.raises(IntegrityError, match="changed after verification"):
        last_position_graph(path, "0" * 64)


@pytest.mark.slow
def test_real_default_models_last_head_equals_full(default_model_ws):
    from engine.models.default import FP32_NAME, INT8_NAME
    prompts = [
        "<|im_start|>user\nWhich drug reverses heparin? A. protamine B. vitamin K C. naloxone "
        "D. flumazenil<|im_end|>\n<|im_start|>assistant\nAnswer:",
        "<|im_start|>user\nA 70-year-old has crushing chest pain and ST elevation in II, III, "
        "aVF. Which artery is most likely occluded? A. LAD B. right coronary C. left circumflex "
        "D. left main E. none<|im_end|>\n<|im_start|>assistant\nAnswer:",
        "<|im_start|>user\nFirst-line treatment of anaphylaxis? A. antihistamine "
        "B. IM adrenaline<|im_end|>\n<|im_start|>assistant\nAnswer:",
    ]
    letters = [list("ABCD"), list("ABCDE"), list("AB")]
    for name in (FP32_NAME, INT8_NAME):
        last, full = _both(default_model_ws, name)
        a, b = last.score_options(prompts, letters), full.score_options(prompts, letters)
        assert _max_diff(a, b) < 1e-4, name
        assert [x.choice for x in a] == [y.choice for y in b]
