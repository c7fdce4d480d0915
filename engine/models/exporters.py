"""Which exporter turns an HF folder into ONNX: optimum's torch trace or SafeVet's direct one.

Kept apart from both exporters (and free of numpy, onnx and torch) because the CLI's
help text, the importer's early checks and the choice itself need only these names.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import SafeVetError

# Model types engine.models.direct_export builds.
DIRECT_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "phi3")
# `safevet models import --exporter`: "auto" takes direct above this many parameters, for a
# model type it covers. optimum's trace peaks at ~17 bytes per parameter (8.9 GB for 524M),
# so below ~400M (< 7 GB) it fits any workstation and the exports made so far (the default
# model, every test fixture) stay what they were; above it that peak grows past what
# workstations have, while direct export stays at about one tensor.
EXPORTERS = ("auto", "direct", "optimum")
DIRECT_ABOVE_PARAMETERS = 400_000_000


def check_exporter(exporter: str) -> None:
    """Refuse an unknown `--exporter` before any slow work."""
    if exporter not in EXPORTERS:
        raise SafeVetError(f"exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")


def covers(hf_dir: Path) -> bool:
    """Whether config.json names a model type the direct exporter builds."""
    try:
        config = json.loads((Path(hf_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") in DIRECT_MODEL_TYPES


def choose_exporter(exporter: str, hf_dir: Path, parameters: int) -> str:
    """"direct" or "optimum" for this model (see DIRECT_ABOVE_PARAMETERS for "auto")."""
    check_exporter(exporter)
    if exporter != "auto":
        return exporter
    return "direct" if parameters > DIRECT_ABOVE_PARAMETERS and covers(hf_dir) else "optimum"


def exporter_help() -> str:
    """`--exporter`'s help text, from the names above."""
    return (f"direct (graph written from config.json, weights streamed one tensor at a time: "
            f"low memory; {', '.join(DIRECT_MODEL_TYPES)}), optimum (torch trace, every "
            f"family) or auto (direct above {DIRECT_ABOVE_PARAMETERS / 1e6:.0f}M parameters "
            f"for a type direct covers, else optimum)")
