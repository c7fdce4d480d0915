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
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, \
    model_validator

from engine.errors import InputError, SafeVetError
from engine.inputfiles import read_json
from engine.safepath import check_relative_name

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 16 * 2**20   # chat templates are kilobytes; a file list is small
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# The one vocabulary of stored precisions: int8/int4 are weight-only MatMulNBits
# (engine.models.quantize holds their recipes), fp16 runs on CUDA only.
Precision = Literal["fp32", "int8", "int4", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


class _StrictRecord(BaseModel):
    """Read from folders that arrive on removable media: no coercion, no unknown keys
    silently kept, so a manifest written by hand or damaged in transit is refused."""

    model_config = ConfigDict(strict=True)


class SpecialTokens(_StrictRecord):
    """Ids the runtime needs without asking transformers: end of turn, padding, BOS."""

    bos_token: str | None = None
    bos_token_id: int | None = None
    eos_token: str | None = None
    eos_token_id: int | None = None
    pad_token: str | None = None
    pad_token_id: int | None = None
    # Every id that ends a turn (eos, <|im_end|>, </s>, generation_config's eos list).
    stop_token_ids: list[int] = Field(default_factory=list)


class ModelManifest(_StrictRecord):
    manifest_version: Literal[1] = MANIFEST_VERSION
    name: str = Field(pattern=NAME_RE.pattern)
    source: str
    source_kind: Literal["hf_folder", "gguf", "derived"]
    source_sha256: str
    derived_from: str | None = None
    precision: Precision
    quantization: dict[str, object] | None = None
    architecture: str
    model_type: str
    parameter_count: int = Field(ge=0)
    context_length: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    chat_template: str | None
    special_tokens: SpecialTokens
    onnx_file: str = "model.onnx"
    files: dict[str, str]
    export_tool_versions: dict[str, str]
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @field_validator("files")
    @classmethod
    def _files_are_names_inside_the_folder(cls, files: dict[str, str]) -> dict[str, str]:
        for rel, digest in files.items():
            check_relative_name(rel, source=MANIFEST_FILE, field=f"files.{rel}")
            if rel == MANIFEST_FILE:
                raise ValueError(f"files lists {MANIFEST_FILE} itself")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"files.{rel}: expected a sha256 (64 hex digits)")
        return files

    @model_validator(mode="after")
    def _onnx_file_is_listed(self) -> "ModelManifest":
        if self.onnx_file not in self.files:
            raise ValueError(f"onnx_file {self.onnx_file!r} is not one of the listed files")
        if "tokenizer.json" not in self.files:
            raise ValueError("files must list tokenizer.json (the runtime tokenizes with it)")
        return self

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
        if not path.exists() and not path.is_symlink():
            raise SafeVetError(f"{folder}: no {MANIFEST_FILE}; not a SafeVet model folder "
                               f"(re-import the model)")
        data = read_json(path, what="model manifest", max_bytes=MAX_MANIFEST_BYTES)
        if not isinstance(data, dict):
            raise InputError(path, "expected a JSON object")
        try:
            return cls.model_validate(data)
        except InputError as exc:  # raised by a validator: re-anchor it on this file
            raise InputError(path, exc.detail, field=exc.field) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or None
            msg = err["msg"].removeprefix("Value error, ")
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise InputError(path, f"invalid model manifest: {msg}{more}", field=where) from None


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise SafeVetError(f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' "
                           f"or '-', starting with a letter or digit")
    return name
