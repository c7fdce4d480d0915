"""The optimised graph (issue 10) gives the same results as the exported one.

Last-position LM head vs full head; fused ONNX Attention vs optimum's unfused attention.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import IntegrityError
from engine.models.generation import GenerationSettings
from engine.models.onnx_model import OnnxCandidateModel as CandidateModel
from tests.test_models_runtime import LETTERS, QUESTIONS, mcq_prompts


def _open(ws, name: str, head: str, attention: str = "fused") -> CandidateModel:
    from engine.models.registry import model_dir, verify_files
    manifest = verify_files(ws, name, use_cache=True)
    return CandidateModel(model_dir(ws, name), manifest, provider="cpu", scoring_head=head,
                          attention=attention)


def _max_diff(a, b) -> float:
    return max(abs(x.logprobs[k] - y.logprobs[k]) for x, y in zip(a, b) for k in x.logprobs)


def _both(ws, name):
    last, full = _open(ws, name, "last"), _open(ws, name, "full", "plain")
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
    _assert_same_generation(last, full, QUESTIONS[0])


def _assert_same_generation(a: CandidateModel, b: CandidateModel, question: str) -> None:
    prompt = a.render_chat([{"role": "user", "content": question}])
    x = a.generate(prompt, GenerationSettings(max_new_tokens=24))
    y = b.generate(prompt, GenerationSettings(max_new_tokens=24))
    assert (x.text, x.completion_tokens) == (y.text, y.completion_tokens)


def test_changed_model_file_is_refused_by_the_derivation(tiny_model_ws):
    from engine.models.registry import get_manifest, model_dir
    from engine.models.scoring_graph import last_position_graph
    ws, name = tiny_model_ws
    path = model_dir(ws, name) / get_manifest(ws, name).onnx_file
    with pytest.raises(IntegrityError, match="changed after verification"):
        last_position_graph(path, "0" * 64)


@pytest.mark.slow
def test_real_default_models_optimised_equals_exported(default_model_ws):
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
        last, full = _both(default_model_ws, name)      # last+fused vs full+plain
        assert last.session_info["attention"] == "fused (ONNX Attention, 30 layers)"
        a, b = last.score_options(prompts, letters), full.score_options(prompts, letters)
        assert _max_diff(a, b) < 1e-4, name
        assert [x.choice for x in a] == [y.choice for y in b]


def _op_types(model: CandidateModel) -> set[str]:
    import onnx

    from engine.models.scoring_graph import derive_graph
    g = onnx.load_from_string(derive_graph(model.folder / model.manifest.onnx_file, None).data)
    return {n.op_type for n in g.graph.node}


@pytest.mark.parametrize("key", ["chatml", "chatml-int8"])
def test_fused_attention_equals_plain(tiny_model_store, workspace, key):
    """Same probabilities, batched with left padding and a shared prefix, and alone."""
    from tests.fixtures.models import copy_models
    copy_models(tiny_model_store, workspace, key)
    name = tiny_model_store.names[key]
    fused, plain = _open(workspace, name, "last", "fused"), _open(workspace, name, "last", "plain")
    assert fused.session_info["attention"] == "fused (ONNX Attention, 2 layers)"
    assert plain.session_info["attention"] == "plain (as exported)"
    from engine.models.registry import load_model
    assert load_model(workspace, name).session_info["attention"] == fused.session_info["attention"]
    ops = _op_types(fused)
    assert "Attention" in ops and not {"Softmax", "IsNaN"} & ops
    evidence = "the ct scan shows consolidation in the right lower lobe with effusion. " * 3
    # prompts of very different lengths in one batch: the short rows are mostly padding,
    # so fully masked rows go through the fused kernel and must stay finite
    prompts = mcq_prompts(plain) + mcq_prompts(plain, [evidence + q for q in QUESTIONS])
    letters = LETTERS * 2
    for m in (fused, plain):
        m.batch_size = 16
    assert _max_diff(fused.score_options(prompts, letters),
                     plain.score_options(prompts, letters)) < 1e-4
    for m in (fused, plain):
        m.reuse_prefix = False
    a, b = fused.next_token_logits(prompts), plain.next_token_logits(prompts)
    assert np.isfinite(a).all()
    assert np.abs(a - b).max() < 1e-4
    fused.batch_size = 1
    alone = [fused.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
    assert _max_diff(alone, plain.score_options(prompts, letters)) < 1e-4
    _assert_same_generation(fused, plain, QUESTIONS[1])


def test_unfamiliar_attention_is_left_as_exported(tiny_model_ws):
    """A graph whose attention is not optimum's pattern is not touched, and the record says why."""
    import onnx

    from engine.models.attention_fusion import fuse_attention
    from engine.models.registry import get_manifest, model_dir
    from engine.models.scoring_graph import derive_graph
    ws, name = tiny_model_ws
    path = model_dir(ws, name) / get_manifest(ws, name).onnx_file
    model = onnx.load_from_string(derive_graph(path, None, fuse=False).data)
    where = next(n for n in model.graph.node if n.op_type == "IsNaN")
    where.op_type = "IsInf"               # one layer no longer matches
    before = model.SerializeToString()
    result = fuse_attention(model)
    assert result.layers == 0 and "IsNaN" in result.reason
    assert model.SerializeToString() == before
