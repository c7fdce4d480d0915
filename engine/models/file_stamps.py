"""sha256 of model files as checked in this process, so that one load hashes a file once.

A model exported with external data keeps its weights (gigabytes) in a file beside
model.onnx, such as `model.onnx_data`. A load checks every listed file
(registry.check_folder), and the session layer must be sure again, just before
onnxruntime opens a data file, that it is the file the manifest lists. Hashing 4 GB
twice per load would cost ~20 s of disk reading; so each check records the file's
stamp (size, mtime_ns, ctime_ns) with the sha256 found, and a later check of the same
path whose stamp still matches takes that sha256 without reading. ctime cannot be set
back by a user, so a write in between changes the stamp and forces a fresh hash.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine.hashing import sha256_file

Stamp = list[int]        # [size, mtime_ns, ctime_ns], as the registry's stamp cache stores it

_CHECKED: dict[str, tuple[Stamp, str]] = {}


def stamp(path: Path) -> Stamp:
    """What changes whenever the file's bytes do (without reading them)."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def remember(path: Path, file_stamp: Stamp, sha256: str) -> None:
    """Record that `path`, as it was at `file_stamp`, hashed to `sha256`."""
    _CHECKED[os.path.abspath(path)] = (list(file_stamp), sha256)


def checked_sha256(path: Path) -> tuple[str, Stamp]:
    """sha256 of `path` and the stamp it holds for: remembered if the stamp still matches,
    else read and hashed now (and remembered)."""
    now = stamp(path)
    known = _CHECKED.get(os.path.abspath(path))
    if known is not None and known[0] == now:
        return known[1], now
    digest = sha256_file(path)
    remember(path, now, digest)
    return digest, now
