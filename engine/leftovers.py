"""Folders that a killed process left behind, found and removed on the next command.

Imports build a model in a hidden staging folder and rename it into place; a
SIGKILL in between leaves hundreds of megabytes that nothing else would ever
delete. Each staging folder therefore has a marker file beside it, held with
an exclusive `flock` for as long as its builder lives. The kernel drops the
lock when the builder dies, so "marker unlocked" means "abandoned" with no pid
guessing, and a second SafeVet process never removes a folder still in use.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from engine.workspace import CORPUS_MANIFEST, Workspace

MARKER_SUFFIX = ".building"
STAGING_PREFIXES = (".importing-", ".removing-")


def _marker(folder: Path) -> Path:
    return folder.with_name(folder.name + MARKER_SUFFIX)


@contextlib.contextmanager
def staging_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new hidden folder under parent, marked as in use until the block ends.

    The caller renames it into place or leaves it; either way the folder (if
    still there) and its marker are removed on exit.
    """
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f"{prefix}{uuid.uuid4().hex[:8]}"
    marker = _marker(folder)
    # Locked under a private name, then renamed (the lock follows the inode): a sweeper
    # never sees this marker unlocked, so it can never take the folder for abandoned.
    fresh = marker.with_name(marker.name + ".new")
    fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        os.replace(fresh, marker)
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        fresh.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
        os.close(fd)


def is_abandoned(folder: Path) -> bool:
    """True when no live process holds the folder's marker (or it never had one)."""
    marker = _marker(folder)
    try:
        fd = os.open(marker, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return True


def remove_abandoned_staging(ws: Workspace) -> list[Path]:
    """Staging folders of killed imports and removals under models/, removed."""
    removed: list[Path] = []
    for parent in (ws.models_dir, ws.models_dir / "embedders"):
        if not parent.is_dir():
            continue
        for entry in sorted(parent.iterdir()):
            if entry.name.endswith(MARKER_SUFFIX):
                folder = entry.with_name(entry.name[: -len(MARKER_SUFFIX)])
                if not folder.exists() and is_abandoned(folder):
                    entry.unlink(missing_ok=True)
                continue
            if (entry.is_dir() and not entry.is_symlink()
                    and entry.name.startswith(STAGING_PREFIXES) and is_abandoned(entry)):
                shutil.rmtree(entry, ignore_errors=True)
                _marker(entry).unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _may_hold_half_store(ws: Workspace) -> bool:
    """A corpus folder without its manifest exists: only then is the corpus module (and
    the numpy/pydantic it loads) imported, so every other command starts as fast as before."""
    return ws.corpora_dir.is_dir() and any(
        p.is_dir() and not (p / CORPUS_MANIFEST).exists() for p in ws.corpora_dir.iterdir())


def sweep(ws: Workspace) -> list[Path]:
    """Everything a killed process left in this workspace, removed; what went, returned."""
    removed = remove_abandoned_staging(ws)
    if _may_hold_half_store(ws):
        from engine.retrieval.corpus import remove_half_stores
        removed += remove_half_stores(ws)
    return removed
