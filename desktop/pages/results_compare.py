"""Results page, "Compare candidates" tab: two candidates of a run side by side.

For each suite × condition, candidate A's and B's figure on the same items sit in
adjacent columns with B − A and its 95% paired bootstrap interval, the call the
engine's rule makes of it, McNemar's test, the items that flipped, and the judges
the open-ended labels rest on. The figures are engine.compare.candidates'
(computed in a worker), written by engine.compare.text like the CLI and the PDF.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from desktop.context import AppContext
from desktop.widgets.common import (ProgressLine, fill_table, labelled_picker, make_table,
                                    show_error)
from desktop.widgets.flow import FlowLayout
from engine.number_format import DESKTOP

MCQ_COMPARE_COLUMNS = ("Suite", "Condition", "n", "Figure", "A", "B", "B − A", "Call")
OPEN_COMPARE_COLUMNS = ("Suite", "Condition", "Judge", "n", "Figure", "A", "B", "B − A",
                        "Call")
FLIP_COLUMNS = ("Item", "Suite", "Condition", "Kind", "Change", "A's answer", "B's answer")


class CandidateCompareView(QWidget):
    """Pick A and B among the run's models; Compare fills the tables."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.run_id: str | None = None
        self.comparison = None
        self._task = None
        lay = QVBoxLayout(self)
        top = FlowLayout()
        self.a_combo, self.b_combo = QComboBox(), QComboBox()
        self.compare_btn = QPushButton("Compare")
        top.add(labelled_picker("A:", self.a_combo, chars=18),
                labelled_picker("B:", self.b_combo, chars=18), self.compare_btn)
        lay.addLayout(top)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        self.tabs = QTabWidget()
        self.mcq_table = make_table(MCQ_COMPARE_COLUMNS, stretch=None)
        self.open_table = make_table(OPEN_COMPARE_COLUMNS, stretch=None)
        self.flip_table = make_table(FLIP_COLUMNS, stretch=None)
        self.tabs.addTab(self.mcq_table, "Multiple choice")
        self.tabs.addTab(self.open_table, "Open-ended")
        self.tabs.addTab(self.flip_table, "Flipped items")
        lay.addWidget(self.tabs, 1)
        self.progress = ProgressLine()
        lay.addWidget(self.progress)
        self.compare_btn.clicked.connect(self.compare)
        self.load(None, [])

    def load_run(self, run) -> None:
        """Offer the candidates of `run` (a RunRecord; None: no run), in plan order."""
        from engine.compare.candidates import run_candidates
        self.load(run.id if run else None, run_candidates(self.ctx.store, run) if run else [])

    def load(self, run_id: str | None, models: list[str]) -> None:
        """A new run was chosen: offer its models (A first, B second) and clear the tables."""
        self.run_id = run_id
        self.comparison = None
        for combo in (self.a_combo, self.b_combo):
            combo.clear()
            combo.addItems(models)
        if len(models) >= 2:
            self.b_combo.setCurrentIndex(1)
        self.compare_btn.setEnabled(run_id is not None and len(models) >= 2)
        for t in (self.mcq_table, self.open_table, self.flip_table):
            t.setRowCount(0)
        self.summary.setText("Choose two candidates of this run and press Compare."
                             if len(models) >= 2 else
                             "This run has fewer than two candidates to compare.")
        self.progress.idle("")

    def compare(self):
        from engine.compare.candidates import compare_candidates
        from engine.compare.reliance import gate_from_thresholds
        from engine.compare.types import CandidateRef

        a, b = self.a_combo.currentText(), self.b_combo.currentText()
        if not self.run_id or not a or not b:
            return None
        if a == b:
            self.summary.setText("Choose two different candidates.")
            return None
        run_id, store, ws = self.run_id, self.ctx.store, self.ctx.ws
        self.progress.busy(f"Comparing {b} with {a} (paired bootstrap)…")
        self.compare_btn.setEnabled(False)
        self._task = self.ctx.runner.submit(
            f"Compare {b} with {a}",
            lambda progress, cancel: compare_candidates(
                store, CandidateRef(run_id=run_id, model=a), CandidateRef(run_id=run_id, model=b),
                ws=ws, judge_gate=gate_from_thresholds()),
            on_success=lambda c, rid=run_id: self.show_comparison(rid, c),
            on_failure=self._failed)
        return self._task

    def _failed(self, title: str, message: str) -> None:
        self.progress.idle("")
        self.compare_btn.setEnabled(True)
        show_error(self, title, message)

    def show_comparison(self, run_id: str, c) -> None:
        from engine.compare.text import figure_cells, ids_text

        self.compare_btn.setEnabled(True)
        if run_id != self.run_id:
            return  # another run was chosen while this computed
        self.comparison = c
        fill_table(self.mcq_table, [
            (cell.suite_id, cell.condition, f.difference.n, *figure_cells(f, DESKTOP))
            for cell in c.mcq for f in cell.figures])
        fill_table(self.open_table, [
            (cell.suite_id, cell.condition, cell.judge, f.difference.n,
             *figure_cells(f, DESKTOP)) for cell in c.open for f in cell.figures])
        flips = []
        for cell in c.mcq:
            flips += [(f.item_id, cell.suite_id, cell.condition, "MCQ", change, f.a_answer,
                       f.b_answer)
                      for change, group in (("became dangerous", cell.became_dangerous),
                                            ("became safe", cell.became_safe))
                      for f in group]
        for cell in c.open:
            flips += [(f.item_id, cell.suite_id, cell.condition, f"open ({cell.judge})",
                       change, f.a_answer, f.b_answer)
                      for change, group in (("became unsafe", cell.became_dangerous),
                                            ("became safe", cell.became_safe))
                      for f in group]
        fill_table(self.flip_table, flips, danger_cols=())
        mcnemar = " · ".join(
            f"{cell.suite_id} {cell.condition}: McNemar exact p = {cell.mcnemar.p_value:.4f} "
            f"(A only right {cell.mcnemar.a_only_correct}, B only right "
            f"{cell.mcnemar.b_only_correct})" for cell in c.mcq)
        judges = " · ".join(r.describe() for r in c.judges)
        self.summary.setText(
            f"B = {c.b.model} against A = {c.a.model}, on the items both answered. "
            f"{c.safer_rule} {mcnemar}. Became dangerous: "
            f"{ids_text(c.flipped_ids('became_dangerous'), 12)}; became safe: "
            f"{ids_text(c.flipped_ids('became_safe'), 12)}."
            + (f" Judges: {judges}." if judges else "")
            + "".join(f" Note: {n}." for n in c.notes))
        self.progress.idle(f"{len(c.mcq)} multiple-choice and {len(c.open)} open-ended cells "
                           f"compared.")
