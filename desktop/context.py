"""The state every page shares: the workspace, the results store, the task runner.

Pages never talk to each other directly; when one changes the workspace
(imports a model, finishes a run) it calls `notify_*`, and the pages that show
that kind of thing refresh themselves.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.workers import TaskRunner
from engine.store.db import ResultsStore
from engine.workspace import Workspace


class AppContext(QObject):
    models_changed = Signal()
    suites_changed = Signal()
    corpora_changed = Signal()
    runs_changed = Signal()
    reports_changed = Signal()
    status_message = Signal(str)
    open_run = Signal(str)         # "show me this run's results" (Run page -> Results page)

    def __init__(self, ws: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from engine.leftovers import sweep
        self.ws = ws
        # What a killed import or ingest left behind goes before any page lists the workspace.
        self.cleaned_up = sweep(ws)
        # ResultsStore is thread-safe (one connection behind a lock); workers share it.
        self.store = ResultsStore(ws.db_path)
        self.runner = TaskRunner(self)

    _provider: str | None = None

    def provider_name(self) -> str:
        """The onnxruntime execution provider this machine will use (cached: it cannot change)."""
        if self._provider is None:
            try:
                from engine.models.providers import choose_for_this_machine
                choice = choose_for_this_machine("auto")
                self._provider = choice.name
            except Exception as exc:  # onnxruntime missing or broken: say so, do not crash
                self._provider = f"unavailable ({exc})"
        return self._provider

    def notify_models(self) -> None:
        self.models_changed.emit()

    def notify_suites(self) -> None:
        self.suites_changed.emit()

    def notify_corpora(self) -> None:
        self.corpora_changed.emit()

    def notify_runs(self) -> None:
        self.runs_changed.emit()

    def notify_reports(self) -> None:
        self.reports_changed.emit()

    def close(self) -> None:
        self.runner.cancel_all()
        self.runner.wait(30_000)
        self.store.close()
