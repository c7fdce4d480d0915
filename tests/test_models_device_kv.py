"""The decode path that keeps the KV cache on the execution provider's device (IO binding).

On a GPU it keeps the cache off the bus; here it runs with the device "cpu", which is
the same code and must give exactly the host path's results: greedy and sampled texts,
token counts and stop reasons, also when sequences leave the batch early (the rows are
then gathered on the device). The choice of path is a pure rule, tested on its own.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import SafeVetError
from engine.models.device_kv import DeviceKvCache, device_of
from engine.models.generation import GenerationSettings
from engine.models.providers import CPU, CUDA
from engine.models.registry import load_model
from engine.models.runtime_options import RuntimeOptions
from tests.test_models_batch_generation import chat_prompts


def _pair(ws, name):
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.registry import model_dir, verify_files
    manifest = verify_files(ws, name)
    host = OnnxCandidateModel(model_dir(ws, name), manifest, provider="cpu",
                              options=RuntimeOptions(kv_cache="host"))
    device = OnnxCandidateModel(model_dir(ws, name), manifest, provider="cpu",
                                options=RuntimeOptions(kv_cache="device"))
    return host, device


def test_the_cache_stays_on_the_device_only_where_asked_or_on_a_gpu():
    assert RuntimeOptions().cache_on_device(CUDA)
    assert not RuntimeOptions().cache_on_device(CPU)
    assert RuntimeOptions(kv_cache="device").cache_on_device(CPU)
    assert not RuntimeOptions(kv_cache="host").cache_on_device(CUDA)
    assert RuntimeOptions.from_environment({"SAFEVET_KV_CACHE": "device"}).kv_cache == "device"
    with pytest.raises(SafeVetError, match="kv_cache must be one of"):
        RuntimeOptions(kv_cache="gpu")
    assert device_of(CUDA) == "cuda" and device_of(CPU) == "cpu"


def test_device_cache_decodes_exactly_as_host_arrays(tiny_model_ws):
    ws, name = tiny_model_ws
    host, device = _pair(ws, name)
    assert host.session_info["kv_cache"] == "host (numpy)"
    assert device.session_info["kv_cache"] == "device (cpu, IO binding)"
    prompts = chat_prompts(host, 10)
    stop = host.generate(prompts[3], GenerationSettings(max_new_tokens=24)).text[6:10]
    settings = [GenerationSettings(max_new_tokens=24 if i % 3 else 5,
                                   temperature=0.0 if i % 2 else 0.8, seed=i,
                                   stop=[stop] if i == 3 else [])
                for i in range(len(prompts))]
    a = host.generate_batch(prompts, settings)
    b = device.generate_batch(prompts, settings)
    assert [g.text for g in b] == [g.text for g in a]
    assert [g.completion_tokens for g in b] == [g.completion_tokens for g in a]
    assert [g.finish_reason for g in b] == [g.finish_reason for g in a]
    # sequences really left the batch early (the device-side row gather ran)
    assert len({g.completion_tokens for g in a}) > 1 and "stop" in {g.finish_reason for g in a}


def test_device_rows_are_gathered_in_order(tiny_model):
    """keep_rows on device values equals numpy's fancy indexing, for any kept subset."""
    import onnxruntime as ort
    m = tiny_model
    kv = DeviceKvCache(m.session, m._past_names, m._output_names[1:], m._has_position_ids,
                       np.dtype(np.float32), "cpu")
    rng = np.random.default_rng(0)
    past = [rng.standard_normal((4, 2, 5, 8)).astype(np.float32) for _ in m._past_names]
    values = kv.adopt(past)
    assert all(isinstance(v, ort.OrtValue) for v in values)
    kept = kv.keep_rows(values, [3, 1])
    for got, want in zip(kept, past):
        np.testing.assert_array_equal(got.numpy(), want[[3, 1]])


@pytest.mark.slow
def test_default_model_device_cache_equals_host(default_model_ws):
    from engine.models.default import FP32_NAME as DEFAULT_MODEL_NAME
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.registry import model_dir, verify_files
    manifest = verify_files(default_model_ws, DEFAULT_MODEL_NAME, use_cache=True)
    host = load_model(default_model_ws, DEFAULT_MODEL_NAME)
    device = OnnxCandidateModel(model_dir(default_model_ws, DEFAULT_MODEL_NAME), manifest,
                                provider="cpu", options=RuntimeOptions(kv_cache="device"))
    prompts = chat_prompts(host, 4)
    s = [GenerationSettings(max_new_tokens=16)] * 4
    assert [g.text for g in device.generate_batch(prompts, s)] == \
        [g.text for g in host.generate_batch(prompts, s)]
