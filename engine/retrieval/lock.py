"""One process owns a corpus store at a time.

Chroma lets two processes write the same store, but each keeps its own vector
index in memory, so the second one reads a stale index until restarted: a run
could silently retrieve from yesterday's corpus. An exclusive `flock` on a lock
file beside the store prevents that; the holder writes its pid into the file so
the refused process can say who holds it. The kernel drops the lock when the
holder dies, so a crash never leaves a store locked.

Within one process the lock is shared and reference-counted (flock locks
belong to an open file, so a second open in the same process would otherwise
refuse itself).
"""
from __future__ import annotations

import fcntl
import os
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import SafeVetError

LOCK_NAME = ".lock"


class StoreLockedError(SafeVetError):
    """Another process holds the store."""


_held: dict[str, tuple[int, int]] = {}  # resolved path -> (fd, refcount)
_guard = threading.Lock()


def _holder(path: Path) -> str:
    try:
        info = path.read_text(encoding="utf-8").strip()
    except OSError:
        info = ""
    return info or "unknown process"


class StoreLock:
    """Exclusive, non-blocking lock on `folder/.lock`; release() or use as a context."""

    def __init__(self, folder: Path, what: str) -> None:
        self.path = (Path(folder) / LOCK_NAME).resolve()
        self.what = what
        self._acquired = False

    @property
    def held_by_this_process(self) -> bool:
        """Whether some code in this process holds the lock (it is shared within a process,
        so acquiring it proves nothing about another thread still using the store)."""
        with _guard:
            return str(self.path) in _held

    def acquire(self) -> "StoreLock":
        if self._acquired:
            return self
        key = str(self.path)
        with _guard:
            if key in _held:
                fd, count = _held[key]
                _held[key] = (fd, count + 1)
                self._acquired = True
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreLockedError(
                    f"{self.what} is in use by another SafeVet process ({_holder(self.path)}); "
                    f"close that process or wait for it to finish (lock file {self.path})"
                ) from None
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
            _held[key] = (fd, 1)
            self._acquired = True
        return self

    def release(self) -> None:
        if not self._acquired:
            return
        key = str(self.path)
        with _guard:
            fd, count = _held[key]
            if count > 1:
                _held[key] = (fd, count - 1)
            else:
                del _held[key]
                try:
                    os.ftruncate(fd, 0)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
        self._acquired = False

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
