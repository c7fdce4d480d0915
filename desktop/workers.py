"""Worker threads: how long engine calls run without freezing the window.

The engine reports progress through plain callbacks (`engine.events`), called
on whatever thread runs the work. `EngineTask` runs one engine call on the
global QThreadPool and re-emits those callbacks as Qt signals; Qt queues them
to the UI thread because the signal object lives there. Every failure goes
through the engine's one error boundary (`engine.failures.explain`), so the
dialog says exactly what the CLI would print: the engine's own message for
expected failures, one line naming the log file for a bug.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.events import CancelToken, ProgressCallback, ProgressEvent

log = logging.getLogger("safevet.desktop")

# The work itself: receives the progress callback and the cancel token.
TaskFn = Callable[[ProgressCallback, CancelToken], Any]


class TaskSignals(QObject):
    """Signals of one task; created on the UI thread so slots run there."""

    progress = Signal(object)        # engine.events.ProgressEvent
    succeeded = Signal(object)       # the task function's return value
    failed = Signal(str, str)        # (title, message) ready for a dialog
    finished = Signal()              # always last, after succeeded or failed


class EngineTask(QRunnable):
    """One engine call on the thread pool, with progress, cancel and clean errors."""

    def __init__(self, title: str, fn: TaskFn) -> None:
        super().__init__()
        self.setAutoDelete(False)     # the runner keeps the Python object alive
        self.title = title
        self.started = time.monotonic()
        self.fn = fn
        self.cancel_token = CancelToken()
        self.signals = TaskSignals()
        # Set on the UI thread once every slot of `finished` has run (see TaskRunner._done).
        self.completed = False

    def cancel(self) -> None:
        """Ask the engine to stop after the call in flight (checked between calls)."""
        self.cancel_token.cancel()

    def _progress(self, event: ProgressEvent) -> None:
        self.signals.progress.emit(event)

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(self._progress, self.cancel_token)
        except Exception as exc:  # input, environment or a bug: one boundary says which
            from engine.failures import explain
            failure = explain(exc, where=f"desktop: {self.title}")
            if failure.log_path is not None:
                log.error("%s failed; traceback in %s", self.title, failure.log_path)
            self.signals.failed.emit(self.title, failure.message)
        else:
            self.signals.succeeded.emit(result)
        finally:
            self.signals.finished.emit()


class TaskRunner(QObject):
    """Starts tasks on a thread pool and keeps them alive until they finish.

    `busy_changed` lets the main window show that something is running; `tasks_changed`
    lets it say what (a bare "Working…" left over after a run, while the other pages
    recompute for it, read as if the run had not finished).
    """

    busy_changed = Signal(bool)
    tasks_changed = Signal()

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[EngineTask] = set()

    def start(self, task: EngineTask) -> EngineTask:
        was_busy = bool(self._active)
        self._active.add(task)
        task.signals.finished.connect(lambda t=task: self._done(t))
        self.pool.start(task)
        if not was_busy:
            self.busy_changed.emit(True)
        self.tasks_changed.emit()
        return task

    def submit(self, title: str, fn: TaskFn, *, on_success: Callable[[Any], None] | None = None,
               on_progress: Callable[[ProgressEvent], None] | None = None,
               on_failure: Callable[[str, str], None] | None = None,
               on_finished: Callable[[], None] | None = None) -> EngineTask:
        """Create, wire and start a task in one call."""
        task = EngineTask(title, fn)
        if on_progress is not None:
            task.signals.progress.connect(on_progress)
        if on_success is not None:
            task.signals.succeeded.connect(on_success)
        if on_failure is not None:
            task.signals.failed.connect(on_failure)
        if on_finished is not None:
            task.signals.finished.connect(on_finished)
        return self.start(task)

    def _done(self, task: EngineTask) -> None:
        task.completed = True
        self._active.discard(task)
        if not self._active:
            self.busy_changed.emit(False)
        self.tasks_changed.emit()

    def titles(self) -> list[str]:
        """What is running now, oldest first."""
        return [t.title for t in sorted(self._active, key=lambda t: t.started)]

    @property
    def active(self) -> int:
        return len(self._active)

    def cancel_all(self) -> None:
        for task in list(self._active):
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every task ended (used on close, after cancel_all)."""
        return self.pool.waitForDone(msecs)
