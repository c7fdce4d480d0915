"""The model manifest: what a report names when it says which model was vetted.

It lives as `manifest.json` beside the ONNX files; every other file in the
model folder is listed with its sha256 so a changed or truncated file is caught
before a single item is scored.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from engine.errors import InputError, SafeVetError

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Precision = Literal["fp32", "int8", "fp16"]


class SpecialTokens(BaseModel):
    """Ids the runtime needs without asking transformers: end of turn, padding, BOS."""

    bos_token: str | None = None
    bos_token_id: int | None = None
    eos_token: str | None = None
    eos_token_id: int | None = None
    pad_token: str | None = None
    pad_token_id: int | None = None
    # Every id that ends a turn (eos, <|im_end|>, </s>, generation_config's eos list).
    stop_token_ids: list[int] = Field(default_factory=list)


class ModelManifest(BaseModel):
    manifest_version: int = MANIFEST_VERSION
    name: str
    source: str
    source_kind: Literal["hf_folder", "gguf", "derived"]
    source_sha256: str
    derived_from: str | None = None
    precision: Precision
    quantization: dict[str, object] | None = None
    architecture: str
    model_type: str
    parameter_count: int
    context_length: int
    num_layers: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    chat_template: str | None
    special_tokens: SpecialTokens
    onnx_file: str = "model.onnx"
    files: dict[str, str]
    export_tool_versions: dict[str, str]
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def write(self, folder: Path) -> Path:
        """Write atomically so a crash never leaves a half-written manifest."""
        path = folder / MANIFEST_FILE
        tmp = folder / (MANIFEST_FILE + ".tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False))
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, folder: Path) -> "ModelManifest":
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise SafeVetError(f"{folder}: no {MANIFEST_FILE}; not a SafeVet model folder "
                               f"(re-import the model)")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise InputError(path, f"unreadable model manifest: {exc}") from exc


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise SafeVetError(f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' "
                           f"or '-', starting with a letter or digit")
    return name
