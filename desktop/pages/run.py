"""Run page: choose models × suites × conditions × profile, start, watch, cancel, resume.

A full run takes hours on a CPU workstation, so this page is about trust in
what is happening: one bar per model × condition with counts, the call in
flight, an ETA, and the headline figures of each cell as its calls complete
(point values only; intervals come on the Results page). Cancel stops after
the call in flight; every completed call is already stored, so Resume (or a
restart after a crash) carries on exactly where it stopped — it is the
engine's `execute_run` called again on the same run id, as in the CLI.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from desktop.context import AppContext
from desktop.widgets.common import (DASH, duration, make_table, muted_label, page_header, pct,
                                    row_of_key, scroll_area, show_error, shrinkable_combo)
from desktop.widgets.elided import ElidedLabel
from desktop.widgets.tables import Cell, make_item, resume_sorting, suspend_sorting
from engine.conditions import registry
from engine.events import ProgressEvent
from engine.runs.backends import BACKEND_LABELS, Backend
from engine.runs.progress import node_rates_text

CELL_COLUMNS = ("Model", "Condition", "Progress", "Calls", "Accuracy", "High-risk",
                "Overconf.", "Errors")
CELL_TIPS = {4: "Share of answered MCQs whose chosen option is the key (so far)",
             5: "High-risk error rate: chosen option labelled high-risk",
             6: "Dangerous overconfidence: wrong with a high-risk or unsafe option at "
                "confidence ≥ τ",
             7: "Calls that failed and were stored as error rows"}
RESUMABLE = ("interrupted", "running", "planned", "failed")
IDLE_FORMAT = "no run"                     # not "0 / 1 calls (0%)": nothing is planned yet
RUN_FORMAT = "%v / %m calls (%p%)"


@dataclass
class CellState:
    """What the page knows about one model × condition while a run executes."""

    total: int = 0
    done: int = 0
    errors: int = 0
    live: dict = field(default_factory=dict)


def plan_cells(store, run_id: str) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Per model × condition: calls planned and calls already stored.

    Built from the engine's own plan (the same units execute_run will do), so
    the bars add up to the engine's total; runs in the worker thread.
    """
    from engine.runs.executor import load_config, load_run_suites
    from engine.runs.plan import plan_units

    _, config = load_config(store, run_id)
    suites = load_run_suites(config)
    done_keys = store.done_keys(run_id)
    totals: Counter = Counter()
    done: Counter = Counter()
    for model in config.models:
        for unit in plan_units(config, suites, model):
            totals[(model, unit.condition)] += 1
            if unit.key in done_keys:
                done[(model, unit.condition)] += 1
    return dict(totals), dict(done)


class RunPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.task = None
        self.run_id: str | None = None
        self.cells: dict[tuple[str, str], CellState] = {}
        self.last_outcome = None
        self._corpus_chosen = False   # until the user picks one, default to the first corpus

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Run",
            "Every model call is stored the moment it completes: cancelling or a crash loses "
            "at most the call in flight, and Resume continues the same run."))
        split = QSplitter(Qt.Orientation.Horizontal)
        lay.addWidget(split, 1)
        split.addWidget(self._build_config())
        split.addWidget(self._build_monitor())
        split.setStretchFactor(1, 1)
        split.setSizes([360, 920])
        split.setChildrenCollapsible(False)

        ctx.models_changed.connect(self.refresh)
        ctx.suites_changed.connect(self.refresh)
        ctx.corpora_changed.connect(self.refresh)
        ctx.runs_changed.connect(self._refresh_resumable)
        self.refresh()

    # -- layout -------------------------------------------------------------
    def _build_config(self) -> QWidget:
        from engine.runs.profiles import PROFILES

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(0, 0, 8, 0)
        col.setSpacing(4)

        box = QGroupBox("Candidate models")
        b = QVBoxLayout(box)
        self.models_list = QListWidget()
        self.models_list.setMaximumHeight(84)
        self.models_list.setMinimumHeight(52)
        b.addWidget(self.models_list)
        col.addWidget(box)

        box = QGroupBox("Suites")
        b = QVBoxLayout(box)
        self.suites_list = QListWidget()
        self.suites_list.setMaximumHeight(84)
        self.suites_list.setMinimumHeight(52)
        b.addWidget(self.suites_list)
        col.addWidget(box)

        box = QGroupBox("Deployment conditions")
        grid = QGridLayout(box)
        self.condition_boxes: dict[str, QCheckBox] = {}
        for i, cond in enumerate(registry.REGISTRY):
            cb = QCheckBox(cond.desktop_long_label)
            cb.setChecked(not cond.needs_corpus)
            if cond.needs_corpus:
                cb.setToolTip("Searches the chosen corpus")
            self.condition_boxes[cond.name] = cb
            grid.addWidget(cb, i // 2, i % 2)
        col.addWidget(box)

        box = QGroupBox("Settings")
        form = QFormLayout(box)
        self.profile = QComboBox()
        for name, prof in PROFILES.items():
            self.profile.addItem(name, name)
            self.profile.setItemData(self.profile.count() - 1, prof.description,
                                     Qt.ItemDataRole.ToolTipRole)
        self.profile.setCurrentIndex(max(0, self.profile.findData("demo")))
        self.profile_desc = muted_label("")
        self.profile.currentIndexChanged.connect(self._show_profile)
        self._show_profile()
        form.addRow("Profile:", self.profile)
        self.corpus = shrinkable_combo(QComboBox(), chars=18)
        self.corpus.activated.connect(lambda _: setattr(self, "_corpus_chosen", True))
        form.addRow("Corpus:", self.corpus)
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("default: login name")
        form.addRow("Operator:", self.operator)
        self.backend = QComboBox()
        for name, label in BACKEND_LABELS.items():
            self.backend.addItem(label, name)
        self.backend.setToolTip("Where the model calls run. Either way this application "
                                "alone writes the results store, and the figures are the same.")
        form.addRow("Backend:", self.backend)
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("head:6379, auto, or empty for this machine only")
        self.ray_address.setToolTip("The Ray head started with `ray start --head`; empty "
                                    "starts a private Ray on this machine for the run")
        form.addRow("Ray address:", self.ray_address)
        self.backend.currentIndexChanged.connect(self._show_backend)
        self._show_backend()
        # The long profile text goes last, so it never pushes Corpus below the fold.
        form.addRow(self.profile_desc)
        col.addWidget(box)

        self.start_btn = QPushButton("Start run")
        self.start_btn.setObjectName("primary")
        self.start_btn.setShortcut("Ctrl+R")
        self.start_btn.setToolTip("Start a new run (Ctrl+R)")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setToolTip("Stop after the call in flight (Esc)")
        self.cancel_btn.setShortcut("Esc")

        box = QGroupBox("Resume an interrupted run")
        b = QHBoxLayout(box)
        self.resume_combo = shrinkable_combo(QComboBox(), chars=16)
        self.resume_btn = QPushButton("Resume")
        b.addWidget(self.resume_combo, 1)
        b.addWidget(self.resume_btn)
        col.addWidget(box)
        col.addStretch(1)

        self.start_btn.clicked.connect(self.start_new_run)
        self.cancel_btn.clicked.connect(self.cancel_run)
        self.resume_btn.clicked.connect(self.resume_selected)

        # The choices scroll; Start and Cancel stay pinned under them, always on screen.
        column = QWidget()
        v = QVBoxLayout(column)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(scroll_area(inner), 1)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 6, 8, 0)
        actions.addWidget(self.start_btn, 1)
        actions.addWidget(self.cancel_btn)
        v.addLayout(actions)
        column.setMinimumWidth(340)
        return column

    def _build_monitor(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        col.setContentsMargins(8, 0, 0, 0)
        top = QHBoxLayout()
        self.run_label = ElidedLabel("No run started in this session.")
        self.run_label.setStyleSheet("font-weight: 600; font-size: 14px;")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.results_btn = QPushButton("Show results")
        self.results_btn.setEnabled(False)
        self.results_btn.clicked.connect(lambda: self.run_id and self.ctx.open_run.emit(self.run_id))
        top.addWidget(self.run_label, 1)
        top.addWidget(self.results_btn)
        col.addLayout(top)
        self.overall = QProgressBar()
        self.overall.setMinimumHeight(24)
        self._idle_bar()
        col.addWidget(self.overall)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)   # a failure message must not widen the page
        col.addWidget(self.status)
        self.current = ElidedLabel("")
        self.current.setObjectName("muted")
        col.addWidget(self.current)
        # Progress (the bar) takes the width the figures leave.
        self.cell_table = make_table(CELL_COLUMNS, stretch=2)
        for index, tip in CELL_TIPS.items():
            self.cell_table.horizontalHeaderItem(index).setToolTip(tip)
        col.addWidget(self.cell_table, 3)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Run messages appear here.")
        self.log.setMaximumHeight(130)
        col.addWidget(self.log, 1)
        return w

    def _show_profile(self) -> None:
        from engine.runs.profiles import PROFILES

        prof = PROFILES.get(self.profile.currentData())
        self.profile_desc.setText(prof.description if prof else "")

    def _show_backend(self) -> None:
        self.ray_address.setEnabled(self.backend.currentData() == "ray" and self.task is None)

    def chosen_backend(self) -> Backend:
        """The backend the choices name (engine-checked: a bad choice is refused here)."""
        ray = self.backend.currentData() == "ray"
        return Backend.parse(self.backend.currentData(),
                             self.ray_address.text().strip() or None if ray else None)

    def _idle_bar(self) -> None:
        """Nothing planned: an empty bar that says so."""
        self.overall.setRange(0, 1)
        self.overall.setValue(0)
        self.overall.setFormat(IDLE_FORMAT)

    # -- workspace lists ----------------------------------------------------
    def refresh(self) -> None:
        from engine.models.registry import list_models
        from engine.retrieval.corpus import list_corpora
        from engine.suites.registry import list_suites

        checked_models = set(self.checked(self.models_list))
        checked_suites = set(self.checked(self.suites_list))
        try:
            models = [m.name for m in list_models(self.ctx.ws)]
        except Exception:
            models = []
        self._fill_checklist(self.models_list, [(m, f"{m}") for m in models], checked_models,
                             "No models: import one on the Models page.")
        suites = [(f"{s.id}@{s.version}", f"{s.id} {s.version} · {len(s.active_items())} items")
                  for _, s, err in list_suites(self.ctx.ws) if s is not None]
        self._fill_checklist(self.suites_list, suites, checked_suites,
                             "No suites: import one on the Suites page.")
        current = self.corpus.currentData()
        self.corpus.clear()
        self.corpus.addItem("(none — no retrieval conditions)", None)
        try:
            for c in list_corpora(self.ctx.ws):
                self.corpus.addItem(f"{c.name} ({len(c.documents)} documents)", c.name)
        except Exception:
            pass
        idx = self.corpus.findData(current)
        if current is None and not self._corpus_chosen and self.corpus.count() > 1:
            idx = 1   # the workspace has a corpus: offer it rather than "none"
        self.corpus.setCurrentIndex(idx if idx >= 0 else 0)
        self._refresh_resumable()

    @staticmethod
    def _fill_checklist(widget: QListWidget, entries: list[tuple[str, str]], checked: set[str],
                        empty: str) -> None:
        widget.clear()
        if not entries:
            item = QListWidgetItem(empty)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            widget.addItem(item)
            return
        for key, text in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                          | Qt.ItemFlag.ItemIsSelectable)
            item.setCheckState(Qt.CheckState.Checked if key in checked
                               else Qt.CheckState.Unchecked)
            widget.addItem(item)

    @staticmethod
    def checked(widget: QListWidget) -> list[str]:
        out = []
        for i in range(widget.count()):
            item = widget.item(i)
            key = item.data(Qt.ItemDataRole.UserRole)
            if key and item.checkState() == Qt.CheckState.Checked:
                out.append(key)
        return out

    @staticmethod
    def set_checked(widget: QListWidget, keys: list[str]) -> None:
        for i in range(widget.count()):
            item = widget.item(i)
            key = item.data(Qt.ItemDataRole.UserRole)
            if key:
                item.setCheckState(Qt.CheckState.Checked if key in keys
                                   else Qt.CheckState.Unchecked)

    def select(self, *, models: list[str] | None = None, suites: list[str] | None = None,
               conditions: list[str] | None = None, profile: str | None = None,
               corpus: str | None = None, backend: str | None = None,
               ray_address: str | None = None) -> None:
        """Set the choices as a user would by clicking (used by tests and screenshots)."""
        if backend is not None and self.backend.findData(backend) >= 0:
            self.backend.setCurrentIndex(self.backend.findData(backend))
        if ray_address is not None:
            self.ray_address.setText(ray_address)
        if models is not None:
            self.set_checked(self.models_list, models)
        if suites is not None:
            keys = []
            for i in range(self.suites_list.count()):
                key = self.suites_list.item(i).data(Qt.ItemDataRole.UserRole)
                if key and (key in suites or key.split("@")[0] in suites):
                    keys.append(key)
            self.set_checked(self.suites_list, keys)
        if conditions is not None:
            for cond, cb in self.condition_boxes.items():
                cb.setChecked(cond in conditions)
        if profile is not None and self.profile.findData(profile) >= 0:
            self.profile.setCurrentIndex(self.profile.findData(profile))
        if corpus is not None:
            self._corpus_chosen = True
            self.corpus.setCurrentIndex(max(0, self.corpus.findData(corpus)))

    def _refresh_resumable(self) -> None:
        self.resume_combo.clear()
        try:
            runs = self.ctx.store.list_runs()
        except Exception:
            runs = []
        for r in runs:
            if r.status in RESUMABLE and r.id != (self.run_id if self.task else None):
                self.resume_combo.addItem(f"{r.id} · {r.status} · {', '.join(r.models)}", r.id)
        self.resume_btn.setEnabled(self.resume_combo.count() > 0 and self.task is None)
        self.resume_combo.setEnabled(self.task is None)
        if self.resume_combo.count() == 0:
            self.resume_combo.addItem("(no interrupted runs)", None)

    # -- running ------------------------------------------------------------
    def start_new_run(self):
        """Plan a run from the current choices (engine create_run) and execute it."""
        from engine.runs.executor import create_run

        if self.task is not None:
            return None
        models = self.checked(self.models_list)
        suites = self.checked(self.suites_list)
        conditions = [c for c, cb in self.condition_boxes.items() if cb.isChecked()]
        profile = self.profile.currentData()
        corpus = self.corpus.currentData()
        operator = self.operator.text().strip() or None
        ws, store = self.ctx.ws, self.ctx.store

        def plan():
            return create_run(ws, store, models=models, suites=suites,
                              conditions=conditions or [], profile=profile, corpus=corpus,
                              operator=operator)
        return self._launch(plan, f"Starting a {profile} run…")

    def resume_selected(self):
        run_id = self.resume_combo.currentData()
        if not run_id or self.task is not None:
            return None
        return self.resume(run_id)

    def resume(self, run_id: str):
        """Continue a stored run: execute_run skips every call already stored."""
        return self._launch(lambda: run_id, f"Resuming {run_id}…")

    def _launch(self, get_run_id, message: str):
        from engine.errors import SafeVetError
        from engine.runs.executor import execute_run

        ws, store = self.ctx.ws, self.ctx.store
        try:
            backend = self.chosen_backend()
        except SafeVetError as exc:
            show_error(self, "Backend", str(exc))
            return None

        def work(progress, cancel):
            run_id = get_run_id()
            totals, done = plan_cells(store, run_id)
            progress(ProgressEvent("plan", f"run {run_id}", data={
                "run_id": run_id, "totals": totals, "done": done}))
            return execute_run(ws, store, run_id, progress=progress, cancel=cancel,
                               backend=backend)

        self.last_outcome = None
        self.cells.clear()
        self.cell_table.setRowCount(0)
        self.log.clear()
        self.overall.setFormat("planning…")
        self.overall.setRange(0, 0)
        self.status.setText(message)
        self.current.setText("")
        self.results_btn.setEnabled(False)
        self._set_running(True)
        self.task = self.ctx.runner.submit("Run", work, on_progress=self.on_event,
                                           on_success=self._finished, on_failure=self._failed,
                                           on_finished=self._ended)
        return self.task

    def cancel_run(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_btn.setEnabled(False)
            self.status.setText("Cancelling: stopping after the call in flight…")

    def _set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.resume_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        for w in (self.models_list, self.suites_list, self.profile, self.corpus, self.operator,
                  self.backend, *self.condition_boxes.values()):
            w.setEnabled(not running)
        self.ray_address.setEnabled(not running and self.backend.currentData() == "ray")

    # -- progress -----------------------------------------------------------
    def on_event(self, ev: ProgressEvent) -> None:
        if ev.stage == "plan":
            self._start_cells(ev.data["run_id"], ev.data["totals"], ev.data["done"])
        elif ev.stage == "call":
            self._on_call(ev)
        else:
            if ev.total:
                self.overall.setRange(0, ev.total)
                self.overall.setValue(ev.done or 0)
            if ev.message:
                self.log.appendPlainText(f"{ev.stage}: {ev.message}")
                if ev.stage == "model":
                    self.current.setText(ev.message)

    def _reflect_config(self, run_id: str) -> None:
        """Show the run's own choices on the left, so a resumed run reads as what it is."""
        run = self.ctx.store.get_run(run_id)
        if run is None:
            return
        cfg = run.config
        self.select(models=cfg.models, suites=[f"{s.id}@{s.version}" for s in cfg.suites],
                    conditions=cfg.conditions, profile=cfg.profile, corpus=cfg.corpus)
        self.operator.setText(run.operator or "")

    def _start_cells(self, run_id: str, totals: dict, done: dict) -> None:
        self.run_id = run_id
        self._reflect_config(run_id)
        self._refresh_resumable()
        self.run_label.setText(f"Run {run_id}")
        total = sum(totals.values())
        stored = sum(done.values())
        self.overall.setFormat(RUN_FORMAT)
        self.overall.setRange(0, max(1, total))
        self.overall.setValue(stored)
        self.status.setText(f"{stored} of {total} calls already stored" if stored else
                            f"{total} calls planned")
        table = self.cell_table
        suspend_sorting(table)
        table.setRowCount(len(totals))
        for row, key in enumerate(sorted(totals, key=lambda k: (k[0], registry.order(k[1])))):
            state = CellState(total=totals[key], done=done.get(key, 0))
            self.cells[key] = state
            first = make_item(key[0])
            first.setData(Qt.ItemDataRole.UserRole, key)   # rows move when the user sorts
            table.setItem(row, 0, first)
            table.setItem(row, 1, make_item(Cell(registry.label(key[1], "desktop"),
                                                 sort=registry.order(key[1]))))
            bar = QProgressBar()
            bar.setRange(0, max(1, state.total))
            bar.setValue(state.done)
            table.setCellWidget(row, 2, bar)
        resume_sorting(table)
        for key in self.cells:
            self._paint_cell(key)

    def _on_call(self, ev: ProgressEvent) -> None:
        d = ev.data
        if ev.total:
            self.overall.setRange(0, ev.total)
            self.overall.setValue(ev.done or 0)
        key = (d.get("model"), d.get("condition"))
        state = self.cells.get(key)
        if state is not None:
            state.done += 1
            if d.get("error"):
                state.errors += 1
            if d.get("live"):
                state.live = d["live"]
            self._paint_cell(key)
        eta = d.get("eta_seconds")
        nodes = node_rates_text(d.get("nodes") or {})
        self.status.setText(f"{ev.done} of {ev.total} calls stored"
                            + (f" · about {duration(eta)} left" if eta is not None else "")
                            + (f" · {nodes}" if nodes else ""))
        variant = f" ({d['variant']})" if d.get("variant") else ""
        self.current.setText(f"Now: {d.get('model')} · {registry.label(d.get('condition'), 'desktop_long')}"
                             f" · {d.get('suite')} · item {d.get('item')}{variant}")
        if d.get("error"):
            self.log.appendPlainText(f"error on {d.get('item')}: {d.get('error')}")

    def _paint_cell(self, key: tuple[str, str]) -> None:
        table = self.cell_table
        row = row_of_key(table, key)
        state = self.cells.get(key)
        if row < 0 or state is None:
            return
        bar = table.cellWidget(row, 2)
        if isinstance(bar, QProgressBar):
            bar.setValue(min(state.done, state.total))
        live = state.live or {}
        share = state.done / state.total if state.total else 0.0
        values = [Cell("", sort=share), Cell(f"{state.done} / {state.total}", sort=share),
                  pct(live.get("accuracy")), pct(live.get("high_risk_error_rate")),
                  pct(live.get("dangerous_overconfidence")),
                  str(state.errors) if state.errors else DASH]
        # Positions hold while one row is written; a user's sort is re-applied afterwards.
        suspend_sorting(table)
        for col, value in enumerate(values, start=2):
            table.setItem(row, col, make_item(value))
        resume_sorting(table)

    def _finished(self, outcome) -> None:
        self.last_outcome = outcome
        self.overall.setRange(0, max(1, outcome.total))
        self.overall.setValue(outcome.done)
        if outcome.status == "completed":
            self.status.setText(f"Completed: {outcome.done} of {outcome.total} calls stored "
                                f"({outcome.errors} errors) in {duration(outcome.seconds)}.")
            self.current.setText("")
        elif outcome.status == "failed":
            self.status.setText(f"Failed: {outcome.failure}. The figures of this run are not "
                                f"evidence; fix the cause and start a new run.")
        else:
            self.status.setText(f"{outcome.status.capitalize()}: {outcome.done} of "
                                f"{outcome.total} calls stored. Resume continues from here.")
        if outcome.status != "completed":
            self.current.setText("")   # nothing is "Now:" any more
        self.log.appendPlainText(f"run {outcome.run_id}: {outcome.status}")
        self.results_btn.setEnabled(outcome.done > 0)

    def _failed(self, title: str, message: str) -> None:
        self.status.setText("The run stopped with an error; completed calls are stored.")
        show_error(self, title, message)

    def _ended(self) -> None:
        self.task = None
        self._set_running(False)
        if self.overall.maximum() == 0:
            self._idle_bar()   # stopped before a plan: still no run, not a busy bar
        self.current.setText("")
        self.ctx.notify_runs()

    @property
    def running(self) -> bool:
        return self.task is not None
