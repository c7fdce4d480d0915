"""Execution provider selection: CUDA only when it can really run, else CPU with a notice."""
from __future__ import annotations

import pytest

from engine.errors import SafeVetError
from engine.models.providers import CPU, CUDA, physical_cores, select_provider

BOTH = [CUDA, CPU]


def test_cuda_when_gpu_build_and_device_present():
    c = select_provider(BOTH, "auto", gpu_present=True)
    assert (c.name, c.providers, c.notice, c.fp16_allowed) == (CUDA, [CUDA, CPU], None, True)
    assert select_provider(BOTH, "cuda", gpu_present=True).name == CUDA


@pytest.mark.parametrize("available,gpu,why", [
    ([CPU], False, "onnxruntime-gpu is not installed"),
    ([CPU], True, "onnxruntime-gpu is not installed"),
    (BOTH, False, "no CUDA GPU"),
])
@pytest.mark.parametrize("requested", ["auto", "cuda", "AUTO"])
def test_cpu_fallback_carries_a_notice(available, gpu, why, requested):
    c = select_provider(available, requested, gpu_present=gpu)
    assert c.name == CPU and c.providers == [CPU] and not c.fp16_allowed
    assert why in c.notice and "running on CPU" in c.notice
    assert ("CUDA was requested" in c.notice) == (requested == "cuda")


def test_explicit_cpu_needs_no_notice():
    c = select_provider(BOTH, "cpu", gpu_present=True)
    assert (c.name, c.notice) == (CPU, None)


def test_unknown_provider_is_refused():
    with pytest.raises(SafeVetError, match="unknown execution provider 'tpu'"):
        select_provider(BOTH, "tpu")


def test_loaded_model_reports_provider_and_threads(tiny_model):
    import onnxruntime as ort
    if CUDA not in ort.get_available_providers():
        assert tiny_model.execution_provider == CPU
        assert "running on CPU" in tiny_model.provider_notice
    info = tiny_model.session_info
    assert info["intra_op_threads"] == physical_cores()
    assert info["execution_provider"] == tiny_model.execution_provider
    assert info["providers"][0] == tiny_model.execution_provider


def test_fp16_model_refused_on_cpu(tiny_model_ws):
    from engine.models.manifest import ModelManifest
    from engine.models.registry import model_dir
    from engine.models.onnx_model import OnnxCandidateModel as CandidateModel
    ws, name = tiny_model_ws
    folder = model_dir(ws, name)
    manifest = ModelManifest.read(folder).model_copy(update={"precision": "fp16"})
    with pytest.raises(SafeVetError, match="fp16"):
        CandidateModel(folder, manifest, choice=select_provider([CPU], "auto"))


def test_doctor_shows_the_execution_provider(workspace, capsys):
    from engine.cli.main import main
    assert main(["--home", str(workspace.home), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "execution provider" in out and "CPUExecutionProvider" in out
    assert f"{physical_cores()} intra-op" in out
