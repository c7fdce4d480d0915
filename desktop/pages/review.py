"""Review page: the label-stewardship queue, reviewer decisions, new suite versions.

Physician time is scarce, so the engine ranks items by how contested their
labels look from stored runs (plus a random audit sample); a reviewer opens
an item, sees its evidence, labels and every model's answer, and records a
decision with a required rationale. Key changes wait for a second reviewer
(two-person rule). Applying confirmed decisions writes a new suite version,
and the impact table re-scores stored runs against it without model calls.
All of it is engine.stewardship; this page only collects the reviewer's input,
with controls (desktop.widgets.change_editor), never typed JSON. The queue says
how each score is made up and which models' position bias it discounted.
"""
from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QLineEdit, QPlainTextEdit,
                               QPushButton, QSplitter, QTabWidget, QTextBrowser, QVBoxLayout,
                               QWidget)

from desktop.context import AppContext
from desktop.pages import review_filters
from desktop.widgets.common import (DASH, labelled_picker, ProgressLine, fill_table,
                                    make_table, muted_label, page_header, pct, scroll_area,
                                    selected_key, show_error, signed_pts, whole_pct)
from desktop.widgets.change_editor import ChangeEditor
from desktop.widgets.flow import FlowLayout
from desktop.widgets.table_filter import TableFilter
from desktop.widgets.item_view import item_html

DECISIONS = ("keep", "retire", "change_key", "change_labels", "edit_evidence")
DECISION_HELP = {
    "keep": "The key and labels are right; record that they were checked.",
    "change_key": "The key is wrong: pick the right option (open items: the right expected "
                  "behaviour). Tick any labels the options should carry.",
    "change_labels": "Tick the labels each option should carry (open items: the harm level).",
    "edit_evidence": "Correct the evidence passages (open items: the reference response).",
    "retire": "Remove the item from the next version (it stays in the old one).",
}


SIGNAL_SHORT = {
    "consensus_other": "models agree on another answer",
    "confident_disagreement": "confident disagreement with key",
    "evidence_shift": "evidence moves models off the key",
    "judges_split": "judges split",
    "judged_against_expected": "judged against expected label",
}


class ReviewPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.suite = None
        self.queue: list = []
        self.biases: list = []       # PositionBias of the runs the queue was built from
        self.view = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Label review",
            "Items whose reference labels look contested in stored runs come first, then a "
            "random audit sample. Every decision needs a rationale and goes to the "
            "hash-chained audit log."))
        # Wrapping row: at 1024 px the Apply button goes to a second line, never clipped.
        top = FlowLayout()
        self.suite_combo = QComboBox()
        picker = labelled_picker("Suite:", self.suite_combo, chars=20, max_width=480)
        self.queue_btn = QPushButton("Rebuild queue")
        top.add(picker, self.queue_btn)
        self.apply_btn = QPushButton("Apply confirmed decisions → new version…")
        self.apply_btn.setObjectName("primary")
        top.add(self.apply_btn, right=True)
        lay.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.queue_table = make_table(("#", "Item", "Key", "Score", "Models", "Reviews", "Why"),
                                      stretch=6)
        self.queue_filter = TableFilter(self.queue_table, switches=review_filters.SWITCHES,
                                        flags_of=review_filters.queue_flags(self),
                                        placeholder="Search the queue…")
        queue_col = QWidget()
        ql = QVBoxLayout(queue_col)
        ql.setContentsMargins(0, 0, 0, 0)
        ql.addWidget(self.queue_filter)
        ql.addWidget(self.queue_table, 1)
        self.queue_note = muted_label("")
        self.queue_note.setWordWrap(True)
        ql.addWidget(self.queue_note)
        queue_col.setMinimumWidth(260)
        split.addWidget(queue_col)

        right = QTabWidget()
        self.item_browser = QTextBrowser()
        right.addTab(self.item_browser, "Item and answers")
        self.pending_table = make_table(("Review", "Item", "Decision", "Change", "By", "Status",
                                         "Rationale"), stretch=6)
        right.addTab(self.pending_table, "Decisions on this version")
        self.impact_table = make_table(("Run", "Model", "Condition", "Metric", "Old", "New",
                                        "Change"), stretch=None)
        self.impact_label = muted_label("Apply decisions to see how stored results move.")
        impact = QWidget()
        il = QVBoxLayout(impact)
        il.addWidget(self.impact_label)
        il.addWidget(self.impact_table, 1)
        right.addTab(impact, "Impact")
        self.right_tabs = right

        form_box = QGroupBox("Decision")
        form = QFormLayout(form_box)
        self.reviewer = QLineEdit()
        self.role = QLineEdit()
        self.role.setPlaceholderText("e.g. consultant radiologist")
        self.decision = QComboBox()
        for k in DECISIONS:
            self.decision.addItem(k.replace("_", " "), k)
        self.decision_help = muted_label(DECISION_HELP["keep"])
        self.change = ChangeEditor()
        self.rationale = QPlainTextEdit()
        self.rationale.setPlaceholderText("Required: why, with the clinical source.")
        self.rationale.setMaximumHeight(70)
        row = FlowLayout()
        self.decide_btn = QPushButton("Record decision")
        self.decide_btn.setObjectName("primary")
        self.confirm_btn = QPushButton("Confirm selected (2nd reviewer)")
        self.reject_btn = QPushButton("Reject selected")
        row.add(self.decide_btn)
        row.add(self.confirm_btn, self.reject_btn, right=True)
        form.addRow("Reviewer:", self.reviewer)
        form.addRow("Role:", self.role)
        form.addRow("Decision:", self.decision)
        form.addRow("", self.decision_help)
        form.addRow("Change:", self.change)
        form.addRow("Rationale:", self.rationale)
        form.addRow(row)

        # Item view above, decision form below, the boundary draggable; the form scrolls
        # when the window is short rather than squashing its fields together.
        right_col = QSplitter(Qt.Orientation.Vertical)
        right_col.setChildrenCollapsible(False)
        right_col.addWidget(right)
        right_col.addWidget(scroll_area(form_box))
        right_col.setStretchFactor(0, 3)
        right_col.setStretchFactor(1, 2)
        split.addWidget(right_col)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 5)
        split.setSizes([560, 700])
        lay.addWidget(split, 1)
        self.progress = ProgressLine()
        lay.addWidget(self.progress)

        self.suite_combo.currentIndexChanged.connect(lambda _: self.build_queue())
        self.queue_btn.clicked.connect(self.build_queue)
        self.queue_table.itemSelectionChanged.connect(self._open_selected)
        self.decision.currentIndexChanged.connect(self._decision_changed)
        self.decide_btn.clicked.connect(self.record_decision)
        self.confirm_btn.clicked.connect(lambda: self.second_review(confirm=True))
        self.reject_btn.clicked.connect(lambda: self.second_review(confirm=False))
        self.apply_btn.clicked.connect(self.apply_decisions)
        ctx.suites_changed.connect(self.refresh)
        ctx.runs_changed.connect(self.build_queue)
        self.refresh()

    # -- lists --------------------------------------------------------------
    def refresh(self) -> None:
        from engine.suites.registry import list_suites

        current = self.suite_combo.currentData()
        self.suite_combo.blockSignals(True)
        self.suite_combo.clear()
        self._suites = {}
        for _, s, _err in list_suites(self.ctx.ws):
            if s is not None:
                key = f"{s.id}@{s.version}"
                self._suites[key] = s
                self.suite_combo.addItem(f"{s.id} {s.version}", key)
        idx = self.suite_combo.findData(current)
        self.suite_combo.setCurrentIndex(idx if idx >= 0 else 0)
        self.suite_combo.blockSignals(False)
        self.build_queue()

    def select_suite(self, ref: str) -> None:
        for i in range(self.suite_combo.count()):
            key = self.suite_combo.itemData(i)
            if key == ref or key.split("@")[0] == ref:
                self.suite_combo.setCurrentIndex(i)

    def build_queue(self):
        from engine.stewardship.triage import position_biases, triage_queue

        self.suite = self._suites.get(self.suite_combo.currentData())
        if self.suite is None:
            fill_table(self.queue_table, [])
            return None
        store, suite = self.ctx.store, self.suite
        self.progress.busy(f"Triaging {suite.id} {suite.version} from stored runs…")
        return self.ctx.runner.submit(
            "Review queue", lambda progress, cancel: (triage_queue(store, suite, limit=50),
                                                      position_biases(store, suite)),
            on_success=lambda r, key=self.suite_combo.currentData(): self._show_queue(key, *r),
            on_failure=self._failed)

    def _show_queue(self, key: str, queue: list, biases: list | None = None) -> None:
        from engine.stewardship.triage import explain_score

        if key != self.suite_combo.currentData():
            return
        self.queue = queue
        self.biases = list(biases or [])
        self._explain_queue()
        contested = sum(1 for e in queue if not e.audit_sample)
        self.progress.idle(f"{contested} contested item(s), {len(queue) - contested} in the "
                           f"random audit sample.")
        rows = []
        for e in queue:
            why = "; ".join(f"{SIGNAL_SHORT.get(s.kind, s.kind)} ({s.strength:.2f})"
                            for s in e.signals[:2]) or ("random audit sample" if e.audit_sample
                                                        else DASH)
            rows.append((e.rank, e.item_id, e.reference, f"{e.score:.2f}", e.n_models,
                         len(e.open_reviews) or DASH, why))
        fill_table(self.queue_table, rows, keys=[e.item_id for e in queue])
        for r, e in enumerate(queue):
            self.queue_table.item(r, 6).setToolTip(
                "\n".join(f"{s.kind} ({s.strength:.2f}): {s.explanation}" for s in e.signals)
                + (f"\n{explain_score(e.signals)}" if e.signals else "")
                or "random audit sample")
        self._show_decisions()
        if rows:
            self.queue_table.selectRow(0)
        else:
            self.item_browser.setHtml("<p>No stored answers for this suite yet: run it first, "
                                      "then the contested items appear here.</p>")

    def _explain_queue(self) -> None:
        """How the score is made and which position biases were discounted, in a line; the
        full rules in its tooltip."""
        from engine.stewardship.triage import CONTESTED_AT, queue_explanation

        found = ("; ".join(f"{b.model} picks {b.letter} on {b.share:.0%} of its answers "
                           f"({b.letter} is the key on {b.key_share:.0%})" for b in self.biases)
                 or "none")
        self.queue_note.setText(
            f"Score: independent signals combined, 1 − (1 − s1)(1 − s2)…; contested from "
            f"{CONTESTED_AT:.2f}. Position bias discounted (a model's answers on its "
            f"dominant letter do not count against a key): {found}.")
        self.queue_note.setToolTip(queue_explanation(self.biases))

    def _bias_note(self, view) -> str:
        """Which stored answers to this item were set aside as a model's habit."""
        if getattr(view, "kind", None) != "mcq":
            return ""
        key = view.item.get("answer")
        habit = {(b.run_id, b.model): b for b in self.biases}
        set_aside = sorted({f"{a.model} ({a.chosen})" for a in view.answers
                            if a.chosen and a.chosen != key
                            and (b := habit.get((a.run_id, a.model))) and b.letter == a.chosen})
        if not set_aside:
            return ""
        return (f"<p><i>Not counted against the key (the model's dominant letter): "
                f"{html.escape(', '.join(set_aside))}.</i></p>")

    def _open_selected(self) -> None:
        from engine.stewardship.triage import explain_score, item_view

        item_id = selected_key(self.queue_table)
        if self.suite is None or item_id is None:
            return
        try:
            view = item_view(self.ctx.store, self.suite, item_id)
        except Exception as exc:
            show_error(self, "Review", str(exc))
            return
        self.view = view
        item = self.suite.item(item_id)
        self.change.set_item(item)
        chosen: dict[str, list[str]] = {}
        for a in view.answers:
            if a.chosen:
                chosen.setdefault(a.chosen, []).append(a.model)
        notes = {k: f"chosen {len(v)}×" for k, v in chosen.items()}
        signals = "".join(f"<li><b>{s.kind.replace('_', ' ')}</b> ({s.strength:.2f}): "
                          f"{s.explanation}</li>" for s in view.signals)
        answers = "".join(
            f"<tr><td>{a.model}</td><td>{a.condition}</td><td><b>{a.chosen or DASH}</b></td>"
            f"<td>{'' if a.confidence is None else whole_pct(a.confidence)}</td>"
            f"<td>{'✓' if a.correct else ('✗' if a.correct is False else '')}</td>"
            f"<td style='color:#b3261e;'>{', '.join(a.chosen_labels)}"
            f"{' '.join(f'{k}: {v}' for k, v in a.judge_labels.items())}</td></tr>"
            for a in view.answers)
        self.item_browser.setHtml(
            item_html(item, notes)
            + (f"<p><b>Why it is in the queue</b></p><ul>{signals}</ul>"
               f"<p>{html.escape(explain_score(view.signals))}</p>" if signals else
               "<p><i>Audit sample: no contention signal.</i></p>")
            + self._bias_note(view)
            + f"<p><b>Stored answers</b> ({len(view.answers)})</p><table cellpadding=3>"
              f"<tr><th align=left>Model</th><th align=left>Condition</th><th align=left>Answer"
              f"</th><th align=left>Confidence</th><th></th><th align=left>Labels</th></tr>"
              f"{answers}</table>")

    def _show_decisions(self) -> None:
        from engine.stewardship.review import list_decisions

        if self.suite is None:
            return
        decisions = list_decisions(self.ctx.store, self.suite.id, self.suite.version)
        fill_table(self.pending_table, [
            (d.id, d.item_id, d.decision.replace("_", " "),
             json.dumps(d.payload) if d.payload else DASH, f"{d.reviewer} ({d.role})"
             + (f"; {d.second_reviewer}" if d.second_reviewer else ""), d.status, d.rationale)
            for d in decisions], keys=[d.id for d in decisions])

    def _decision_changed(self) -> None:
        kind = self.decision.currentData()
        self.decision_help.setText(DECISION_HELP.get(kind, ""))
        self.change.set_decision(kind)

    # -- decisions ----------------------------------------------------------
    def record_decision(self):
        from engine.stewardship.review import ReviewPolicy, decide

        item_id = selected_key(self.queue_table)
        if self.suite is None or item_id is None:
            show_error(self, "Record decision", "Select an item in the queue first.")
            return None
        store, suite, ws = self.ctx.store, self.suite, self.ctx.ws
        reviewer, role = self.reviewer.text(), self.role.text()
        kind, rationale = self.decision.currentData(), self.rationale.toPlainText()
        self.change.set_decision(kind)
        payload = self.change.payload()

        def work(progress, cancel):
            return decide(store, suite, item_id, reviewer, role, kind, payload, rationale,
                          policy=ReviewPolicy.load(ws.home))
        return self.ctx.runner.submit(
            "Record decision", work, on_success=self._decided, on_failure=self._failed)

    def _decided(self, d) -> None:
        note = " — waits for a second reviewer" if d.status == "proposed" else ""
        self.progress.idle(f"Decision #{d.id} on {d.item_id} recorded ({d.status}){note}.")
        self.rationale.clear()
        if self.suite is not None and self.view is not None:  # the form shows the item as is
            self.change.set_item(self.suite.item(self.view.item["id"]))
        self._show_decisions()
        self.right_tabs.setCurrentIndex(1)

    def second_review(self, confirm: bool):
        from engine.stewardship.review import confirm as do_confirm
        from engine.stewardship.review import reject as do_reject

        review_id = selected_key(self.pending_table)
        if review_id is None:
            self.right_tabs.setCurrentIndex(1)
            show_error(self, "Second review", "Select a proposed decision under "
                                              "'Decisions on this version' first.")
            return None
        store = self.ctx.store
        reviewer, role, rationale = (self.reviewer.text(), self.role.text(),
                                     self.rationale.toPlainText())
        fn = do_confirm if confirm else do_reject
        return self.ctx.runner.submit(
            "Second review",
            lambda progress, cancel: fn(store, review_id, reviewer, role, rationale),
            on_success=self._decided, on_failure=self._failed)

    def apply_decisions(self):
        from engine.stewardship.answers import runs_using_suite
        from engine.stewardship.impact import impact
        from engine.stewardship.versions import apply_decisions

        if self.suite is None:
            return None
        actor = self.reviewer.text().strip()
        ws, store, old = self.ctx.ws, self.ctx.store, self.suite

        def work(progress, cancel):
            new = apply_decisions(ws, store, old, actor)
            runs = runs_using_suite(store, old.id)
            report = impact(store, runs, old, new, n_boot=500) if runs else None
            return new, report

        self.progress.busy(f"Writing the next version of {old.id}…")
        return self.ctx.runner.submit("Apply decisions", work, on_success=self._applied,
                                      on_failure=self._failed)

    def _applied(self, result) -> None:
        new, report = result
        self.progress.idle(f"Wrote {new.id} {new.version} (sha256 "
                           f"{new.manifest.items_sha256[:12]}…); {old_count(report)}")
        self.ctx.notify_suites()
        if report is not None:
            self.show_impact(report)

    def show_impact(self, report) -> None:
        rows = []
        for cell in report.cells:
            for s in cell.shifts:
                rows.append((cell.run_id, cell.model, cell.condition,
                             s.metric.replace("_", " "),
                             pct(s.old, interval=False), pct(s.new, interval=False),
                             signed_pts(s.delta)))
        fill_table(self.impact_table, rows)
        self.impact_label.setText(f"{report.suite_id} {report.old_version} → "
                                  f"{report.new_version}: {len(report.changes)} item(s) changed, "
                                  f"re-scored from stored calls of {len(report.run_ids)} run(s).")
        self.right_tabs.setCurrentIndex(2)

    def _failed(self, title: str, message: str) -> None:
        self.progress.idle("")
        show_error(self, title, message)


def old_count(report) -> str:
    if report is None:
        return "no stored runs to re-score."
    return f"{len(report.changes)} item(s) changed."
