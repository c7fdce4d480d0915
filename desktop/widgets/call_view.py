"""One stored model call, whole: prompt, retrieved chunks, raw output, option
probabilities and judge verdicts.

A figure on the Results page is an average over calls; when a committee member
asks "why did it fail here?" the answer is in one call's record — what the model
was shown (the exact prompt, the chunks retrieval found), what it said, how sure
it was of each option, and what the judges made of it. Everything here is read
from the results store (CallRecord, StoredJudgment); nothing is recomputed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QPlainTextEdit,
                               QSplitter, QTabWidget, QVBoxLayout, QWidget)

from desktop.style import theme
from desktop.widgets.common import DASH, fill_table, make_table, muted_label, whole_pct
from desktop.widgets.tables import Cell
from engine.conditions import registry
from engine.store.db import CallRecord, StoredJudgment
from engine.suites.schema import McqItem, OpenItem

# Context keys shown in their own tabs; the rest is listed raw under "Context".
SHOWN_KEYS = ("evidence_text", "chunks", "chunk_ids")


@dataclass(frozen=True)
class CallDetail:
    """A stored call with its judgments and the suite item it answered (when loadable)."""

    call: CallRecord
    judgments: Sequence[StoredJudgment] = field(default_factory=tuple)
    item: McqItem | OpenItem | None = None
    result: str = ""

    @property
    def title(self) -> str:
        c = self.call
        variant = f" · variant {c.variant}" if c.variant else ""
        return (f"{c.model} · {c.suite_id} {c.suite_version} · item {c.item_id} · "
                f"{registry.label(c.condition, 'desktop_long')}{variant}")


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _text_box(mono: bool = False) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    if mono:
        box.setFont(_mono())
    return box


def chunk_rows(context: dict[str, Any]) -> list[tuple]:
    """(rank, chunk id, document, score) of each retrieved chunk, in retrieval order."""
    chunks = context.get("chunks") or [{"id": cid} for cid in context.get("chunk_ids") or []]
    rows = []
    for rank, ch in enumerate(chunks, start=1):
        if not isinstance(ch, dict):
            ch = {"id": ch}
        score = ch.get("score")
        rows.append((rank, ch.get("id"), ch.get("doc_id"),
                     None if score is None else f"{float(score):.3f}"))
    return rows


def prob_rows(call: CallRecord, item: McqItem | OpenItem | None) -> list[tuple]:
    """(letter, option, probability, chosen, key, labels), most probable first."""
    probs = call.option_probs or {}
    options = item.options if isinstance(item, McqItem) else {}
    letters = list(options) or sorted(probs)
    rows = []
    for letter in sorted(letters, key=lambda x: -float(probs.get(x, 0.0))):
        p = probs.get(letter)
        labels = ", ".join(item.labels_of(letter)) if isinstance(item, McqItem) else ""
        rows.append((letter, options.get(letter, ""),
                     Cell(DASH if p is None else f"{100 * float(p):.1f}%", sort=p or 0.0),
                     "✓" if letter == call.chosen else "",
                     "✓" if isinstance(item, McqItem) and letter == item.answer else "",
                     Cell(labels, color=theme().danger if labels else None)))
    return rows


def judgment_rows(judgments: Sequence[StoredJudgment]) -> list[tuple]:
    return [(j.judge, j.label, None if j.score is None else f"{j.score:.2f}", j.cares_class,
             j.reasons, j.created_at) for j in judgments]


class CallView(QWidget):
    """The tabs for one call; CallDialog puts one of these beside a list of calls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel("")
        self.heading.setWordWrap(True)
        self.heading.setStyleSheet("font-weight: 600;")
        self.summary = muted_label("")
        lay.addWidget(self.heading)
        lay.addWidget(self.summary)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)

        self.prompt_text = _text_box(mono=True)
        self.tabs.addTab(self.prompt_text, "Prompt")

        retrieved = QSplitter(Qt.Orientation.Vertical)
        self.chunks_table = make_table(("#", "Chunk", "Document", "Score"), stretch=1)
        self.evidence_text = _text_box()
        self.evidence_text.setPlaceholderText("No evidence or retrieved text in this call.")
        retrieved.addWidget(self.chunks_table)
        retrieved.addWidget(self.evidence_text)
        retrieved.setSizes([140, 260])
        self.tabs.addTab(retrieved, "Retrieved")

        self.output_text = _text_box()
        self.output_text.setPlaceholderText("No generated text: a multiple-choice call is scored "
                                            "from its option probabilities.")
        self.tabs.addTab(self.output_text, "Raw output")

        self.probs_table = make_table(("Option", "Text", "Probability", "Chosen", "Key",
                                       "Labels"), stretch=1)
        self.tabs.addTab(self.probs_table, "Option probabilities")

        self.judges_table = make_table(("Judge", "Verdict", "Score", "CARES class", "Reasons",
                                        "When"), stretch=4)
        self.tabs.addTab(self.judges_table, "Judge verdicts")

        self.context_text = _text_box(mono=True)
        self.tabs.addTab(self.context_text, "Context")

    def show_detail(self, d: CallDetail) -> None:
        c = d.call
        ctx = c.context or {}
        self.heading.setText(d.title)
        facts = [f"result: {d.result}" if d.result else "",
                 f"answer {c.chosen}" if c.chosen else "",
                 f"confidence {whole_pct(c.confidence)}" if c.confidence is not None else "",
                 f"{c.latency_ms:.0f} ms" if c.latency_ms is not None else "",
                 f"{c.prompt_tokens} prompt tokens" if c.prompt_tokens else "",
                 f"error: {c.error}" if c.error else ""]
        self.summary.setText(" · ".join(f for f in facts if f))
        self.prompt_text.setPlainText(c.prompt_text or "")
        chunks = chunk_rows(ctx)
        fill_table(self.chunks_table, chunks)
        self.evidence_text.setPlainText(str(ctx.get("evidence_text") or ""))
        self.output_text.setPlainText(c.output_text or (f"(error) {c.error}" if c.error else ""))
        probs = prob_rows(c, d.item)
        fill_table(self.probs_table, probs)
        fill_table(self.judges_table, judgment_rows(d.judgments))
        rest = {k: v for k, v in ctx.items() if k not in SHOWN_KEYS}
        self.context_text.setPlainText(json.dumps(rest, indent=2, ensure_ascii=False,
                                                  default=str) if rest else "")
        self.tabs.setTabText(1, f"Retrieved ({len(chunks)})" if chunks else "Retrieved")
        self.tabs.setTabText(3, f"Option probabilities ({len(c.option_probs or {})})")
        self.tabs.setTabText(4, f"Judge verdicts ({len(d.judgments)})")


class CallDialog(QDialog):
    """Every call of a row (one for a call row, all answers for an item row), one at a time."""

    def __init__(self, details: Sequence[CallDetail], current: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("callDialog")
        self.details = list(details)
        self.setWindowTitle("Stored call" if len(self.details) == 1 else
                            f"{len(self.details)} stored calls")
        lay = QVBoxLayout(self)
        split = QSplitter()
        self.calls_list = QListWidget()
        self.calls_list.setWordWrap(True)   # "model · condition — result" in full, not cut
        for d in self.details:
            c = d.call
            self.calls_list.addItem(f"{c.model} · {registry.label(c.condition, 'desktop')}"
                                    + (f" · {c.variant}" if c.variant else "")
                                    + (f"\n{d.result}" if d.result else ""))
        self.view = CallView()
        split.addWidget(self.calls_list)
        split.addWidget(self.view)
        split.setStretchFactor(1, 1)
        split.setSizes([200, 680])
        self.calls_list.setVisible(len(self.details) > 1)
        lay.addWidget(split, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.calls_list.currentRowChanged.connect(self._show)
        # Fit the window it opens from (at 1024×680 a fixed 1000×700 would hang off screen).
        host = parent.window() if parent is not None else None
        w, h = (host.width(), host.height()) if host is not None else (1000, 700)
        self.resize(min(980, max(640, w - 80)), min(720, max(480, h - 60)))
        if self.details:
            self.calls_list.setCurrentRow(max(0, min(current, len(self.details) - 1)))

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.details):
            self.view.show_detail(self.details[row])
