"""Execution provider choice: a pure function so the GPU branch is testable on a CPU box.

CUDA is used only when onnxruntime-gpu offers it *and* a GPU is present;
asking onnxruntime for CUDA without one logs an error and silently runs on
CPU, which a report must never hide, so the fallback carries a notice.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from engine.errors import SafeVetError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
REQUESTS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ProviderChoice:
    providers: list[str]        # passed to onnxruntime.InferenceSession, in priority order
    name: str                   # the provider that will run the model
    notice: str | None          # shown to the user when we did not get what was asked
    fp16_allowed: bool          # fp16 weights only make sense (and are only tested) on CUDA


def select_provider(available: Sequence[str], requested: str = "auto",
                    gpu_present: bool = False) -> ProviderChoice:
    """Pick CUDA when it can really run, else CPU with a visible reason."""
    requested = (requested or "auto").lower()
    if requested not in REQUESTS:
        raise SafeVetError(f"unknown execution provider {requested!r}: use one of "
                           f"{', '.join(REQUESTS)}")
    if requested == "cpu":
        return ProviderChoice([CPU], CPU, None, False)
    if CUDA in available and gpu_present:
        return ProviderChoice([CUDA, CPU], CUDA, None, True)
    if CUDA not in available:
        why = "onnxruntime-gpu is not installed (this onnxruntime offers no CUDA provider)"
    else:
        why = "no CUDA GPU was found on this machine"
    asked = "CUDA was requested but " if requested == "cuda" else ""
    return ProviderChoice([CPU], CPU, f"{asked}{why}; running on CPU (CPUExecutionProvider)",
                          False)


def gpu_present() -> bool:
    """A cheap, offline check for an NVIDIA device; no CUDA library is loaded."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return True
    return shutil.which("nvidia-smi") is not None and Path("/proc/driver/nvidia").exists()


def choose_for_this_machine(requested: str = "auto") -> ProviderChoice:
    import onnxruntime as ort
    return select_provider(ort.get_available_providers(), requested, gpu_present())


def physical_cores() -> int:
    """Threads for intra-op work: hyper-threads share an FPU and slow GEMMs down."""
    try:
        import psutil
        n = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unsupported platform
        n = None
    return max(1, n or os.cpu_count() or 1)
