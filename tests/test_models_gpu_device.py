"""The GPU facts a run records and the batch budget taken from free device memory.

No GPU here: the driver tool's output format is parsed from a real sample, the
lookup is shown to answer None without the tool, and the budget rule is a pure
function. On a GPU machine benchmarks/gpu_check.py exercises the live path.
"""
from __future__ import annotations

import shutil

import pytest

from engine.models.batching import DEVICE_KV_SHARE, KV_CACHE_BUDGET_BYTES, kv_cache_budget
from engine.models.gpu_device import parse_nvidia_smi, query_gpu, runtime_package

# `nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version
#  --format=csv,noheader,nounits` on a two-GPU machine
SAMPLE = ("NVIDIA H200, 143771, 141025, 580.65.06\n"
          "NVIDIA H100 80GB HBM3, 81559, 80000, 580.65.06\n")


def test_driver_output_is_read_per_device():
    first = parse_nvidia_smi(SAMPLE)
    assert first is not None and first.name == "NVIDIA H200"
    assert first.total_bytes == 143771 * 2**20 and first.free_bytes == 141025 * 2**20
    assert first.describe() == "NVIDIA H200, 140 GiB (138 GiB free at load), driver 580.65.06"
    second = parse_nvidia_smi(SAMPLE, device_id=1)
    assert second is not None and second.name == "NVIDIA H100 80GB HBM3"
    assert parse_nvidia_smi(SAMPLE, device_id=2) is None
    assert parse_nvidia_smi("") is None
    assert parse_nvidia_smi("NVIDIA H200, [N/A], 1, 580\n") is None


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a driver")
def test_no_driver_tool_means_no_facts():
    assert query_gpu() is None


def test_runtime_build_is_named():
    name, version = runtime_package().split(" ")
    assert name in ("onnxruntime", "onnxruntime-gpu")
    import onnxruntime
    assert version == onnxruntime.__version__


def test_decoding_budget_comes_from_free_device_memory_on_a_gpu():
    weights = 16 * 2**30
    assert kv_cache_budget(weights) == weights // 4                       # host: the weights
    free = 100 * 2**30
    assert kv_cache_budget(weights, free) == int(free * DEVICE_KV_SHARE)  # GPU: free memory
    assert kv_cache_budget(weights, 2**20) == KV_CACHE_BUDGET_BYTES       # never below floor


def test_cpu_models_record_the_runtime_build_and_no_device(tiny_model):
    info = tiny_model.session_info
    assert info["onnxruntime_package"] == runtime_package()
    assert "device" not in info and tiny_model._device_free_bytes is None
