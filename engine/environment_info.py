"""What this machine is: recorded with every run and shown by `safevet doctor`."""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

REPORTED_PACKAGES = ("safevet", "onnxruntime", "onnxruntime-gpu", "tokenizers", "numpy",
                     "chromadb", "reportlab", "pyhanko", "pydantic", "optimum", "optimum-onnx",
                     "transformers", "torch", "PySide6-Essentials", "matplotlib")


def package_versions() -> dict[str, str]:
    out = {}
    for name in REPORTED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def host_info() -> dict[str, object]:
    import psutil
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }
