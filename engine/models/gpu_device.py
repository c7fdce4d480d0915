"""What a run must say about the GPU it ran on, and how much of its memory is free.

A report read by a committee names the device its figures came from, and a batch
of sequences is only as large as the free memory allows: on a GPU the KV cache
competes with the weights for the card's memory, not with the host's RAM. Both
come from `nvidia-smi` (the driver's own tool, present wherever the driver is,
offline), so no CUDA library is loaded to ask and nothing is asked on a machine
without an NVIDIA driver.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

_QUERY = "name,memory.total,memory.free,driver_version"
_MIB = 1024 * 1024
# onnxruntime's wheels: the GPU build and the CPU build both import as `onnxruntime`.
RUNTIME_DISTRIBUTIONS = ("onnxruntime-gpu", "onnxruntime")


@dataclass(frozen=True)
class GpuFacts:
    """One device as the driver reports it."""

    name: str
    total_bytes: int
    free_bytes: int
    driver: str

    def describe(self) -> str:
        """e.g. "NVIDIA H200, 140 GiB (131 GiB free at load), driver 580.65"."""
        gib = 1024 ** 3
        return (f"{self.name}, {self.total_bytes / gib:.0f} GiB "
                f"({self.free_bytes / gib:.0f} GiB free at load), driver {self.driver}")


def parse_nvidia_smi(text: str, device_id: int = 0) -> GpuFacts | None:
    """The facts of device `device_id` from `nvidia-smi --query-gpu=<_QUERY>
    --format=csv,noheader,nounits` output (one line per device, MiB); None if absent."""
    rows = [ln for ln in text.splitlines() if ln.strip()]
    if device_id >= len(rows):
        return None
    parts = [p.strip() for p in rows[device_id].split(",")]
    if len(parts) != 4:
        return None
    name, total, free, driver = parts
    try:
        return GpuFacts(name=name, total_bytes=int(float(total)) * _MIB,
                        free_bytes=int(float(free)) * _MIB, driver=driver)
    except ValueError:
        return None


def query_gpu(device_id: int = 0,
              run: Callable[..., subprocess.CompletedProcess] = subprocess.run
              ) -> GpuFacts | None:
    """The device's facts now, or None when there is no driver tool or it fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        done = run([tool, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
                   capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return parse_nvidia_smi(done.stdout, device_id)


def runtime_package() -> str:
    """Which onnxruntime build is installed, with its version ("onnxruntime-gpu 1.31.1")."""
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    import onnxruntime
    return f"onnxruntime {onnxruntime.__version__}"
