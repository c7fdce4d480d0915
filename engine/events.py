"""Progress events: how long work in the engine tells a front end what it is doing.

Plain callbacks, no Qt and no threads assumed: the CLI draws them with rich,
the desktop re-emits them as Qt signals from its worker thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass
class ProgressEvent:
    """One step of a long task.

    `stage` names the task ("export", "ingest", "run", "report" ...); `done` and
    `total` count its units; `message` is a short human line; `data` carries
    anything a richer display can use (current item, live metrics, ETA).
    """

    stage: str
    message: str = ""
    done: int | None = None
    total: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


def emit(callback: Optional[ProgressCallback], stage: str, message: str = "",
         done: int | None = None, total: int | None = None, **data: Any) -> None:
    if callback is not None:
        callback(ProgressEvent(stage=stage, message=message, done=done, total=total, data=data))


class CancelToken:
    """Set by a front end (Ctrl-C, a Cancel button); checked by the engine between calls."""

    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled
