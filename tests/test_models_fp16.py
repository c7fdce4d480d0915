"""fp16 candidates: derived from an imported fp32 model by a half-precision cast.

SafeVet runs fp16 on CUDA only (its kernels are fast there; a report from an emulated
CPU run would mislead about deployment speed), so a CPU machine refuses to load one
with one line. The graph itself is checked here on onnxruntime's CPU kernels, through
the same provider choice a CUDA machine makes (fp16 allowed): half-precision KV cache,
option probabilities within the 2e-2 the GPU check holds fp16 to, and the same
derivation edits (last-position head, fused attention) as fp32.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import SafeVetError
from engine.models.importer import derive_quantized
from engine.models.providers import CPU, ProviderChoice
from engine.models.quantize import FP16_METHOD, describe_conversion
from tests.fixtures.models import copy_models
from tests.test_models_runtime import LETTERS, mcq_prompts

FP16 = "tiny-chatml-fp16"


@pytest.fixture
def fp16_ws(tiny_model_store, workspace):
    copy_models(tiny_model_store, workspace, "chatml")
    derive_quantized(workspace, tiny_model_store.names["chatml"], FP16, "fp16")
    return workspace, tiny_model_store.names["chatml"]


def _as_on_cuda(ws, name):
    """The model opened under the provider choice a CUDA machine makes (fp16 allowed)."""
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.registry import model_dir, verify_files
    return OnnxCandidateModel(model_dir(ws, name), verify_files(ws, name),
                              choice=ProviderChoice([CPU], CPU, None, fp16_allowed=True))


def test_fp16_derive_records_the_cast_and_halves_the_weights(fp16_ws):
    import onnx
    from engine.models.registry import get_manifest, model_dir
    ws, base = fp16_ws
    m = get_manifest(ws, FP16)
    assert (m.precision, m.derived_from, m.quantization["method"]) == ("fp16", base, FP16_METHOD)
    assert describe_conversion(m.quantization).startswith("fp16 cast")
    graph = onnx.load(str(model_dir(ws, FP16) / "model.onnx")).graph
    kinds = {t.data_type for t in graph.initializer if len(t.dims) == 2}
    assert kinds == {onnx.TensorProto.FLOAT16}               # every weight matrix is half
    half = (model_dir(ws, FP16) / "model.onnx").stat().st_size
    full = (model_dir(ws, base) / "model.onnx").stat().st_size
    assert 0.45 < half / full < 0.6


def test_fp16_is_refused_on_cpu_in_one_line(fp16_ws):
    from engine.models.registry import load_model
    ws, _ = fp16_ws
    with pytest.raises(SafeVetError, match=r"^model tiny-chatml-fp16 is fp16, which SafeVet "
                                           r"runs on CUDA only"):
        load_model(ws, FP16)


def test_fp16_scores_within_2e2_of_fp32_with_a_half_precision_cache(fp16_ws):
    from engine.models.registry import load_model
    ws, base = fp16_ws
    fp32, half = load_model(ws, base), _as_on_cuda(ws, FP16)
    assert half._kv_dtype == np.float16
    assert half.session_info["attention"] == fp32.session_info["attention"]
    a = fp32.score_options(mcq_prompts(fp32), LETTERS)
    b = half.score_options(mcq_prompts(half), LETTERS)
    worst = max(abs(x.probs[k] - y.probs[k]) for x, y in zip(a, b) for k in x.probs)
    assert 0 < worst < 2e-2
    gen = half.generate(mcq_prompts(half)[0])
    assert gen.completion_tokens > 0


def test_cli_derives_fp16(tiny_model_store, workspace, capsys):
    copy_models(tiny_model_store, workspace, "chatml")
    code = main(["--home", str(workspace.home), "models", "derive",
                 tiny_model_store.names["chatml"], "--name", "cli-fp16", "--precision", "fp16"])
    out = capsys.readouterr().out
    assert code == 0 and "registered cli-fp16 (fp16 from tiny-chatml, weights cast to half " \
        "precision)" in " ".join(out.split())
