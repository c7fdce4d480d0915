"""Results page: what a finished (or partial) run measured, with its uncertainty.

Every rate is shown with its 95% bootstrap interval because the committee
compares interval bounds with thresholds. Figures come from
`engine.figures.run_figures`, the function the CLI and the signed PDF use too
(same resample count and seed; computed in a worker: the bootstrap takes
seconds), and the exports are the engine's own JSON/CSV, as `safevet results`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QLabel, QPushButton, QSplitter,
                               QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from desktop.context import AppContext
from desktop.pages.results_calls import CallsView
from desktop.pages.results_compare import CandidateCompareView
from desktop.pages.results_thresholds import ThresholdColumns
from desktop.widgets.chart import MetricsChart
from desktop.widgets.common import (DASH, labelled_picker, ProgressLine, est_num, fill_table,
                                    make_table, num, page_header, pct, selected_key,
                                    show_error, signed_pts, whole_pct)
from desktop.widgets.flow import FlowLayout
from desktop.widgets.table_filter import FAILURE, HIGH_RISK, TableFilter
from desktop.widgets.tables import Cell
from desktop.style import theme
from engine.conditions import registry
from engine.metrics.baselines import baseline_flag, baseline_label
from engine.judges.wording import agreement_line, scope_sentence
from engine.number_format import DESKTOP, interval_note

# Two-line headers: a header no wider than its figures keeps ECE, Brier and latency on screen.
MCQ_COLUMNS = ("Model", "Suite", "Condition", "n", "Accuracy", "Chance", "Most common\nkey",
               "Always\nlongest", "vs best\nbaseline", "High-risk\nerror",
               "Unsafe\nanswer", "Contra-\ndiction", "Dangerous\noverconf.", "ECE", "Brier",
               "Latency\np50 ms", "Errors")
# What the baseline columns mean (engine.metrics.baselines has the rules).
BASELINE_TIPS = {
    "Chance": "A uniform guess on the same items: 1 / number of options, averaged.",
    "Most common\nkey": "Always the letter that is most often the key in these items. It is "
                        "chosen knowing the keys: the most a model biased to one letter could "
                        "score here.",
    "Always\nlongest": "Always the option with the most characters; where options tie for "
                       "longest, each gets an equal share of the item's credit.",
    "vs best\nbaseline": "The model's accuracy minus the best of the three baselines, item by "
                         "item, in percentage points with its 95% bootstrap interval. Red: "
                         "below, level with or not clearly above it.",
}
PAIRED_COLUMNS = ("Model", "Suite", "Metric", "From", "To", "Difference (to − from)",
                  "Interval excludes 0")
WORST_COLUMNS = ("Item", "Suite", "Dangerous failures", "High-risk errors", "Cells", "Key",
                 "Question")
OPEN_COLUMNS = ("Model", "Suite", "Condition", "Judge", "n", "Refusal", "Mean harm\n(1–5)",
                "Share\nharm ≥ 4", "CARES\nsafety score", "Over-\nrefusal", "Safe\ncompletion")


def cond_label(cond: str) -> str:
    return registry.label(cond, "desktop_long")


def cond_short(cond: str) -> str:
    return registry.label(cond, "desktop")


class ResultsPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.metrics = None
        self._task = None
        self._loaded: tuple | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Results",
            "Per run: figures by model × condition with 95% intervals (bootstrap; exact "
            "Clopper–Pearson at 0% and 100%) beside what answering by form alone would score, "
            "condition deltas on paired items, and the items that fail most dangerously."))

        # One wrapping row: the run selector takes the spare width; buttons that do not fit
        # go to a second line instead of sliding over the selector.
        top = FlowLayout()
        self.run_combo = QComboBox()
        picker = labelled_picker("Run:", self.run_combo, chars=30)
        self.reload_btn = QPushButton("Recompute")
        self.json_btn = QPushButton("Export JSON…")
        self.csv_btn = QPushButton("Export CSV…")
        self.raw_btn = QPushButton("Export raw calls (CSV)…")
        top.add(picker, self.reload_btn)
        top.add(self.json_btn, self.csv_btn, self.raw_btn, right=True)
        lay.addLayout(top)
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)

        self.tabs = QTabWidget()
        self.thresholds = ThresholdColumns()
        self.mcq_table = make_table(MCQ_COLUMNS + tuple(self.thresholds.mcq_headers()),
                                    stretch=None)
        self._threshold_tips(self.mcq_table, len(MCQ_COLUMNS), self.thresholds.mcq_keys)
        for i, name in enumerate(MCQ_COLUMNS):
            header = self.mcq_table.horizontalHeaderItem(i)
            if name in BASELINE_TIPS and header is not None:
                header.setToolTip(BASELINE_TIPS[name])
        self.chart = MetricsChart()
        charts = QWidget()
        cl = QVBoxLayout(charts)
        cl.addWidget(self.chart)
        self.paired_table = make_table(PAIRED_COLUMNS, stretch=5)
        worst_page = QWidget()
        wl = QVBoxLayout(worst_page)
        self.worst_summary = QLabel("")
        self.worst_summary.setWordWrap(True)
        wl.addWidget(self.worst_summary)
        worst = QSplitter(Qt.Orientation.Vertical)
        self.worst_table = make_table(WORST_COLUMNS, stretch=6)
        self.worst_filter = TableFilter(self.worst_table, placeholder="Search items…")
        wl.addWidget(self.worst_filter)
        self.worst_detail = QTextBrowser()
        worst.addWidget(self.worst_table)
        worst.addWidget(self.worst_detail)
        worst.setSizes([260, 220])
        wl.addWidget(worst, 1)
        self.open_table = make_table(OPEN_COLUMNS + tuple(self.thresholds.open_headers()),
                                     stretch=None)
        self._threshold_tips(self.open_table, len(OPEN_COLUMNS), self.thresholds.open_keys)
        open_page = QWidget()
        ol = QVBoxLayout(open_page)
        self.judge_label = QLabel("")
        self.judge_label.setWordWrap(True)
        ol.addWidget(self.judge_label)
        ol.addWidget(self.open_table, 1)
        self.tabs.addTab(self.mcq_table, "By model × condition")
        self.tabs.addTab(charts, "Charts")
        self.tabs.addTab(self.paired_table, "Condition deltas")
        self.tabs.addTab(worst_page, "Worst-case items")
        self.tabs.addTab(open_page, "Open-ended safety")
        self.calls_view = CallsView(ctx)
        self.tabs.addTab(self.calls_view, "Calls")
        self.compare_view = CandidateCompareView(ctx)
        self.tabs.addTab(self.compare_view, "Compare candidates")
        lay.addWidget(self.tabs, 1)
        self.progress = ProgressLine()
        lay.addWidget(self.progress)

        self.run_combo.currentIndexChanged.connect(lambda _: self.load_selected())
        self.reload_btn.clicked.connect(self.load_selected)
        self.json_btn.clicked.connect(self.export_json)
        self.csv_btn.clicked.connect(lambda: self.export_csv(raw=False))
        self.raw_btn.clicked.connect(lambda: self.export_csv(raw=True))
        self.worst_table.itemSelectionChanged.connect(self._show_worst)
        self.worst_table.activated.connect(lambda _: self.open_worst_calls())
        ctx.runs_changed.connect(self.refresh)
        self._set_export_enabled(False)
        self.refresh()

    # -- run list -----------------------------------------------------------
    def refresh(self) -> None:
        current = self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        try:
            runs = self.ctx.store.list_runs()
        except Exception as exc:
            show_error(self, "Results store", str(exc))
            runs = []
        self._runs = {r.id: r for r in runs}
        for r in runs:
            self.run_combo.addItem(f"{r.id} · {r.status} · {r.profile} · {', '.join(r.models)}",
                                   r.id)
        if not runs:
            self.run_combo.addItem("(no runs yet: start one on the Run page)", None)
        idx = self.run_combo.findData(current)
        self.run_combo.setCurrentIndex(idx if idx >= 0 else 0)
        self.run_combo.blockSignals(False)
        if self._signature(self.run_combo.currentData()) != self._loaded:
            self.load_selected()

    def _signature(self, run_id: str | None) -> tuple | None:
        """What the figures depend on: a run that moved on (more calls, new status) is stale."""
        run = self._runs.get(run_id) if run_id else None
        return (run_id, run.status, run.finished_at) if run else None

    def select_run(self, run_id: str) -> None:
        """Show one run (the Run page's "Show results" button lands here)."""
        self.refresh()
        idx = self.run_combo.findData(run_id)
        if idx >= 0 and idx != self.run_combo.currentIndex():
            self.run_combo.setCurrentIndex(idx)

    def load_selected(self) -> None:
        from engine.figures import run_figures

        run_id = self.run_combo.currentData()
        self.metrics = None
        self._loaded = self._signature(run_id)
        self._clear()
        self.calls_view.load(run_id)
        self.compare_view.load_run(self._runs.get(run_id) if run_id else None)
        if not run_id:
            self._set_export_enabled(False)
            return
        run = self._runs[run_id]
        cfg = run.config
        suites = ", ".join(f"{s.id} {s.version}" for s in cfg.suites)
        self.summary.setText(
            f"Run {run_id} · {run.status} · profile {run.profile} · operator "
            f"{run.operator} · created {run.created_at} · suites {suites} · "
            f"conditions {', '.join(cond_label(c) for c in cfg.conditions)}"
            + (f" · corpus {cfg.corpus}" if cfg.corpus else ""))
        store = self.ctx.store
        self.progress.busy(f"Computing figures for {run_id} (bootstrap intervals)…")
        self.chart.show_empty("Computing…")
        self._set_export_enabled(False)
        task = self.ctx.runner.submit(
            f"Results of {run_id}",
            lambda progress, cancel: run_figures(store, run_id),
            on_success=lambda m, rid=run_id: self._show(rid, m),
            on_failure=self._failed)
        self._task = task

    def _clear(self) -> None:
        for t in (self.mcq_table, self.paired_table, self.worst_table, self.open_table):
            t.setRowCount(0)
        self.worst_detail.clear()
        self.worst_summary.setText("")
        self.judge_label.setText("")
        self.summary.setText("")

    def _failed(self, title: str, message: str) -> None:
        self.progress.idle("")
        self.chart.show_empty("No figures.")
        show_error(self, title, message)

    # -- display ------------------------------------------------------------
    def _show(self, run_id: str, metrics) -> None:
        if run_id != self.run_combo.currentData():
            return  # the user moved on to another run while this one computed
        self.metrics = metrics
        weak = sum(1 for c in metrics.mcq if baseline_flag(c.baselines))
        self.progress.idle(f"{len(metrics.mcq)} multiple-choice cells, {len(metrics.open)} "
                           f"open-ended cells, τ = {metrics.tau}."
                           + (f" {weak} of them do not clearly beat an answer-strategy "
                              f"baseline (red under “vs best baseline”)." if weak else ""))
        cells = sorted(metrics.mcq,
                       key=lambda c: (c.model, c.suite_id, registry.order(c.condition)))
        verdicts = self.thresholds.verdicts(metrics)
        fill_table(self.mcq_table, [
            (c.model, c.suite_id, cond_short(c.condition), c.n_items, _rate(c.accuracy),
             *_baseline_cells(c),
             _rate(c.high_risk_error_rate), _rate(c.unsafe_answer_rate),
             _rate(c.contradiction_rate), _rate(c.dangerous_overconfidence), num(c.ece, 3),
             num(c.brier, 3), num(c.latency_ms_p50, 0), c.n_errors or DASH,
             *self.thresholds.row_cells(verdicts, c.model, c.suite_id, c.condition,
                                        self.thresholds.mcq_keys))
            for c in cells], danger_cols=(MCQ_COLUMNS.index("Errors"),))
        fill_table(self.paired_table, [
            (p.model, p.suite_id, p.metric.replace("_", " "), cond_short(p.condition_a),
             cond_short(p.condition_b), signed_pts(p.difference), _excludes_zero(p.difference))
            for p in metrics.paired])
        worst = metrics.worst_case.items if metrics.worst_case else []
        fill_table(self.worst_table, [
            (w.item_id, w.suite_id, w.dangerous_failures, w.high_risk_errors, w.cells, w.answer,
             w.question) for w in worst], danger_cols=(2, 3),
            keys=list(range(len(worst))),
            flags=[({FAILURE} if w.dangerous_failures else set())
                   | ({HIGH_RISK} if w.high_risk_errors else set()) for w in worst])
        self.worst_filter.apply()
        fill_table(self.open_table, [
            (o.model, o.suite_id, cond_short(o.condition), o.judge, o.n_items,
             _rate(o.refusal_rate), est_num(o.mean_harmfulness), _rate(o.harmful_share_ge4),
             est_num(o.cares_safety_score), _rate(o.over_refusal_rate),
             _rate(o.safe_completion_rate),
             *self.thresholds.row_cells(verdicts, o.model, o.suite_id, o.condition,
                                        self.thresholds.open_keys))
            for o in metrics.open])
        # The same sentence per judge as the CLI and the report (engine.judges.wording).
        self.judge_label.setText("\n".join(f"{agreement_line(j, DESKTOP)}. {scope_sentence(j)}"
                                           for j in metrics.judges)
                                 or "No judge validation recorded for this run.")
        self.chart.plot(metrics.mcq)
        wc = metrics.worst_case
        if wc and wc.worst_decile_high_risk_share is not None:
            self.worst_summary.setText(
                f"Items ranked by how many model × condition cells fail dangerously. The worst "
                f"10% of items hold <b>{whole_pct(wc.worst_decile_high_risk_share)}</b> of all "
                f"{wc.total_high_risk_errors} high-risk errors. Select an item to see every "
                f"answer.")
        else:
            self.worst_summary.setText("No high-risk errors to rank in this run.")
        if worst:
            self.worst_table.selectRow(0)
        self._set_export_enabled(True)

    def _show_worst(self) -> None:
        idx = selected_key(self.worst_table)
        if self.metrics is None or idx is None or not self.metrics.worst_case:
            return
        w = self.metrics.worst_case.items[idx]
        rows = "".join(
            f"<tr><td>{a.model}</td><td>{cond_short(a.condition)}</td><td><b>{a.chosen or DASH}"
            f"</b></td><td>{'' if a.confidence is None else whole_pct(a.confidence)}</td>"
            f"<td style='color:#b3261e;'>{', '.join(a.labels)}</td></tr>" for a in w.answers)
        self.worst_detail.setHtml(
            f"<p><b>{w.item_id}</b> ({w.suite_id}) — key <b>{w.answer}</b></p><p>{w.question}</p>"
            f"<table cellpadding=4><tr><th align=left>Model</th><th align=left>Condition</th>"
            f"<th align=left>Answer</th><th align=left>Confidence</th><th align=left>Labels of "
            f"the chosen option</th></tr>{rows}</table>")

    def open_worst_calls(self):
        """The per-call view of the selected worst-case item: every stored answer to it."""
        idx = selected_key(self.worst_table)
        if self.metrics is None or idx is None or not self.metrics.worst_case:
            return None
        w = self.metrics.worst_case.items[idx]
        return self.calls_view.open_item(w.suite_id, w.item_id)

    def _threshold_tips(self, table, first: int, keys: list[str]) -> None:
        """Each verdict column's header says its limits and the rule that applies them."""
        for i, key in enumerate(keys):
            item = table.horizontalHeaderItem(first + i)
            if item is not None:
                item.setToolTip(self.thresholds.header_tip(key))

    # -- export -------------------------------------------------------------
    def _set_export_enabled(self, enabled: bool) -> None:
        for b in (self.json_btn, self.csv_btn, self.raw_btn):
            b.setEnabled(enabled)

    def export_json(self, path: str | None = None):
        from engine.runs.results import to_json

        run_id = self.run_combo.currentData()
        if not run_id:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export run as JSON",
                                                  f"safevet-{run_id}.json", "JSON (*.json)")
            if not path:
                return None
        store = self.ctx.store
        return self._export(run_id, path, lambda: to_json(store, run_id, raw=True))

    def export_csv(self, raw: bool, path: str | None = None):
        from engine.runs.results import headline_rows, raw_rows, to_csv

        run_id = self.run_combo.currentData()
        if not run_id:
            return None
        if path is None:
            suffix = "calls" if raw else "headline"
            path, _ = QFileDialog.getSaveFileName(self, "Export CSV",
                                                  f"safevet-{run_id}-{suffix}.csv", "CSV (*.csv)")
            if not path:
                return None
        store = self.ctx.store
        metrics = self.metrics
        if raw:
            return self._export(run_id, path, lambda: to_csv(raw_rows(store, run_id)))
        return self._export(run_id, path, lambda: to_csv(headline_rows(metrics)))

    def _export(self, run_id: str, path: str, make_text):
        def work(progress, cancel):
            from engine.errors import SafeVetError
            text = make_text()
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise SafeVetError(f"cannot write {path}: {exc.strerror or exc}") from exc
            return path

        self.progress.busy(f"Writing {path}…")
        return self.ctx.runner.submit(
            f"Export {run_id}", work,
            on_success=lambda p: self.progress.idle(f"Wrote {p}"),
            on_failure=self._failed)


def _rate(est) -> Cell | str:
    """A rate as the number style writes it; a not-applicable one or one with an exact
    interval carries the reason / the method as its tooltip."""
    text = pct(est)
    if est is not None and est.not_applicable:
        return Cell(text, tip=f"Not applicable: {est.not_applicable}.")
    note = interval_note(est) if est is not None and est.method == "clopper_pearson" else ""
    return Cell(text, tip=note[:1].upper() + note[1:] + ".") if note else text


def _baseline_cells(c) -> list:
    """Chance, most common key, always longest and the margin over the best, for one cell."""
    b = c.baselines
    if b is None:
        return [DASH] * 4
    flag = baseline_flag(b)
    margin = Cell(signed_pts(b.margin), color=theme().danger if flag else None,
                  tip=(flag[:1].upper() + flag[1:] if flag else "Above every baseline")
                  + f" (best: {baseline_label(b.best, b)}, {pct(b.best_value)}).")
    return [pct(b.chance), f"{pct(b.common_key)} ({'/'.join(b.common_key_letters)})",
            pct(b.longest), margin]


def _excludes_zero(est) -> str:
    if est is None or est.low is None or est.high is None:
        return DASH
    return "yes" if est.low > 0 or est.high < 0 else "no"
