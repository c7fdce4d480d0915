"""The one error boundary: any exception becomes one line a person can act on.

The CLI and every desktop worker call `explain`, so both surfaces say the same
thing about the same failure. Expected failures (SafeVet's own errors, the
operating system, SQLite, onnxruntime, chromadb) get their own wording and
exit code: 2 for input the user can fix, 1 for the environment. Anything else
is a bug: its traceback goes to a log file in the workspace and the user reads
one line that names that file, never the traceback itself.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import SafeVetError

EXIT_INPUT = 2
EXIT_ENVIRONMENT = 1
EXIT_INTERRUPTED = 130
LOG_NAME = "safevet-errors.log"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class Failure:
    """What a front end shows for one exception."""

    message: str            # one line (InputErrors: a header line and one line per error)
    exit_code: int
    log_path: Path | None = None   # where the traceback went, for unexpected errors


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def _library(exc: BaseException) -> str | None:
    module = type(exc).__module__ or ""
    for lib in ("onnxruntime", "chromadb", "onnx", "tokenizers", "pyhanko", "reportlab"):
        if module == lib or module.startswith(lib + "."):
            return lib
    return None


def _first_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def log_dir(home: Path | None = None) -> Path:
    """The workspace's log folder (home, else $SAFEVET_HOME, else the default workspace),
    or the temp folder when that workspace does not exist."""
    if home is None:
        from engine.workspace import default_home
        home = default_home()
    return home / "logs" if home.is_dir() else Path(tempfile.gettempdir())


def write_traceback(exc: BaseException, where: str, home: Path | None = None) -> Path | None:
    """Append exc's traceback to the error log; None when even that cannot be written."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for folder in (log_dir(home), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / LOG_NAME
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"--- {stamp} {where} (pid {os.getpid()})\n{text}\n")
            return path
        except OSError:
            continue
    return None


def explain(exc: BaseException, where: str = "safevet", home: Path | None = None) -> Failure:
    """The line to show and the exit code for `exc`; unexpected errors are logged."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", EXIT_INTERRUPTED)
    if is_disk_full(exc):
        target = getattr(exc, "filename", None)
        at = f" writing {target}" if target else ""
        return Failure(f"disk full{at}: free some space and run the command again "
                       f"(a stopped run continues with `safevet run --resume RUN_ID`)",
                       EXIT_ENVIRONMENT)
    if isinstance(exc, SafeVetError):
        return Failure(str(exc), getattr(exc, "exit_code", EXIT_INPUT))
    if isinstance(exc, sqlite3.Error):
        return Failure(f"results store error: {_first_line(exc)} (the store is unchanged "
                       f"past the last completed call)", EXIT_ENVIRONMENT)
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else ""
        reason = exc.strerror or _first_line(exc)
        return Failure(f"{name}: {reason}" if name else reason, EXIT_ENVIRONMENT)
    if isinstance(exc, MemoryError):
        return Failure("out of memory: close other programs or use a smaller model or "
                       "batch size", EXIT_ENVIRONMENT)
    lib = _library(exc)
    log = write_traceback(exc, where, home)
    pointer = f"; details in {log}" if log else ""
    if lib is not None:
        return Failure(f"{lib} error ({type(exc).__name__}): {_first_line(exc)}{pointer}",
                       EXIT_ENVIRONMENT, log)
    return Failure(f"unexpected internal error ({type(exc).__name__}: {_first_line(exc)})"
                   f"{pointer}", EXIT_ENVIRONMENT, log)
