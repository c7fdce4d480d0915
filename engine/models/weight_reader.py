"""Read an HF folder's safetensors weights one tensor at a time, as float32 numpy, torch-free.

The direct exporter (engine.models.direct_export) must never hold a model's weights at
once: a 7B model is 28 GB in fp32. safetensors is a JSON header naming each tensor's
dtype, shape and byte range, followed by the raw bytes; so one tensor is one seek and
one read into a fresh buffer, freed when the caller drops it. Read, not memory-mapped:
pages of a mapping stay in the process's RSS for as long as the mapping lives, which for
a whole-file mapping is the whole model.

safetensors' own `safe_open(framework="numpy")` cannot return bfloat16 (numpy has no
such dtype), which is how most real checkpoints are stored; bf16 is widened here by
shifting its 16 bits into the top of a float32, which is exact.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError

# safetensors dtype -> (numpy dtype of the stored bytes, bytes per element)
_STORED = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}
MAX_HEADER_BYTES = 100 * 2**20


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes are: its file, dtype, shape and absolute byte range."""

    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def _header(path: Path) -> dict[str, TensorEntry]:
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise InputError(path, "not a safetensors file (shorter than its header length)")
        size = int.from_bytes(raw, "little")
        if size > MAX_HEADER_BYTES:
            raise InputError(path, f"safetensors header of {size} bytes is implausible")
        try:
            header = json.loads(fh.read(size))
        except ValueError as exc:
            raise InputError(path, f"unreadable safetensors header: {exc}") from None
    base = 8 + size
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = meta.get("dtype")
        if dtype not in _STORED:
            raise InputError(path, f"tensor {name} has dtype {dtype}; the direct exporter "
                                   f"reads {', '.join(_STORED)}", field=name)
        start, end = (base + int(x) for x in meta["data_offsets"])
        entry = TensorEntry(path, dtype, tuple(int(d) for d in meta["shape"]), start, end)
        if end - start != entry.numel * np.dtype(_STORED[dtype]).itemsize:
            raise InputError(path, f"tensor {name}: byte range does not match its shape",
                             field=name)
        out[name] = entry
    return out


class WeightReader:
    """Every tensor of an HF folder (single file or sharded with an index), by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        index = self.folder / "model.safetensors.index.json"
        if index.is_file():
            try:
                files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError) as exc:
                raise InputError(index, f"unreadable safetensors index: {exc}") from None
        else:
            files = ["model.safetensors"]
        self.entries: dict[str, TensorEntry] = {}
        for name in files:
            self.entries.update(_header(self.folder / name))

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entry(name).shape

    def entry(self, name: str) -> TensorEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise InputError(self.folder / "model.safetensors", f"no tensor {name!r} (the "
                             f"config's architecture expects it)") from None

    def read(self, name: str) -> np.ndarray:
        """The tensor as a fresh float32 array (the only copy this reader holds)."""
        e = self.entry(name)
        stored = np.empty(e.numel, dtype=_STORED[e.dtype])
        with open(e.file, "rb") as fh:
            fh.seek(e.start)
            if fh.readinto(memoryview(stored).cast("B")) != e.end - e.start:
                raise InputError(e.file, f"tensor {name} is truncated", field=name)
        if e.dtype == "BF16":
            widened = stored.astype(np.uint32)
            del stored
            widened <<= 16
            return widened.view(np.float32).reshape(e.shape)
        if e.dtype != "F32":
            return stored.astype(np.float32).reshape(e.shape)
        return stored.reshape(e.shape)
