"""Offline guarantees: environment flags that stop libraries reaching the network.

Set before transformers, huggingface_hub, optimum or chromadb are imported,
since several of them read these variables once at import time.
"""
from __future__ import annotations

import os

# Variables that, when set this way, keep a library from any network access.
OFFLINE_FLAGS: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # onnxruntime's PyPI build carries Microsoft 1DS telemetry, which looks up a Microsoft
    # host when a model runs; read once at import, so it must be set before onnxruntime loads.
    "ORT_DISABLE_TELEMETRY": "1",
}


def enforce_offline_environment() -> None:
    """Force the offline flags, overriding anything the user's shell set."""
    for key, value in OFFLINE_FLAGS.items():
        os.environ[key] = value


def offline_flag_problems() -> list[str]:
    """Settings in this process that could let a library reach the network."""
    problems = []
    for key, value in OFFLINE_FLAGS.items():
        if os.environ.get(key) != value:
            problems.append(f"{key}={os.environ.get(key)!r} (expected {value!r})")
    for key in ("HF_ENDPOINT", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        if os.environ.get(key):
            problems.append(f"{key} is set ({os.environ[key]!r}); SafeVet never uses it")
    return problems
