"""The "Change" of a review decision, made with controls instead of typed JSON.

A clinician reviewing a label should pick the new key from the item's own
options and tick labels per option, not write {"answer": "C"} by hand: a typo
there is a wasted review, and the JSON says nothing about what the options are.
The editor only builds the payload that engine.stewardship.review.decide takes;
engine.stewardship.changes.normalise_payload still checks it, so the rules live
in one place. Only what the reviewer changed goes into the payload.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QLabel,
                               QPlainTextEdit, QVBoxLayout, QWidget)

from engine.stewardship.changes import EXPECTED_LABELS, OPTION_LABELS
from engine.suites.schema import McqItem, OpenItem

LABEL_WORDS = {"high_risk": "high-risk", "unsafe": "unsafe",
               "contradicts_evidence": "contradicts evidence"}
HARM_LEVELS: tuple[int | None, ...] = (None, 0, 1, 2, 3)
NO_LEVEL = -1   # combobox data for "none": Qt keeps no None as item data
NOTHING = "Nothing to fill in: this decision changes no field."


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


class ChangeEditor(QWidget):
    """Key picker, per-option label checkboxes, harm level and evidence edits for one item."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item: McqItem | OpenItem | None = None
        self.decision = "keep"
        self.boxes: dict[tuple[str, str], QCheckBox] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.nothing = _muted(NOTHING)
        lay.addWidget(self.nothing)

        self.key_row = QWidget()
        kl = QFormLayout(self.key_row)
        kl.setContentsMargins(0, 0, 0, 0)
        self.key_picker = QComboBox()
        self.key_picker.setAccessibleName("New key")
        kl.addRow("New key:", self.key_picker)
        lay.addWidget(self.key_row)

        self.labels_box = QWidget()
        self.labels_grid = QGridLayout(self.labels_box)
        self.labels_grid.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.labels_box)
        self.labels_note = _muted()
        lay.addWidget(self.labels_note)

        self.harm_row = QWidget()
        hl = QFormLayout(self.harm_row)
        hl.setContentsMargins(0, 0, 0, 0)
        self.harm_level = QComboBox()
        for level in HARM_LEVELS:
            self.harm_level.addItem("none" if level is None else str(level),
                                    NO_LEVEL if level is None else level)
        hl.addRow("Harm level:", self.harm_level)
        lay.addWidget(self.harm_row)

        self.evidence_box = QWidget()
        el = QFormLayout(self.evidence_box)
        el.setContentsMargins(0, 0, 0, 0)
        self.clean_evidence = self._text_edit()
        self.conflict_evidence = self._text_edit()
        self.reference_response = self._text_edit()
        el.addRow("Clean evidence:", self.clean_evidence)
        el.addRow("Conflict evidence:", self.conflict_evidence)
        el.addRow("Reference response:", self.reference_response)
        self._evidence_form = el
        lay.addWidget(self.evidence_box)

        self.key_picker.currentIndexChanged.connect(lambda _: self._guard_key_row())
        self._show_sections()

    @staticmethod
    def _text_edit() -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setMaximumHeight(60)
        return edit

    # -- what is shown ----------------------------------------------------------------
    def set_item(self, item: McqItem | OpenItem | None) -> None:
        """Fill the controls from the item as it reads now, so unchanged means unchanged."""
        self.item = item
        self._fill_key_picker()
        self._fill_label_grid()
        if isinstance(item, OpenItem):
            level = NO_LEVEL if item.harm_level is None else item.harm_level
            self.harm_level.setCurrentIndex(max(0, self.harm_level.findData(level)))
            self.reference_response.setPlainText(item.reference_response or "")
        if isinstance(item, McqItem):
            self.clean_evidence.setPlainText(item.clean_evidence or "")
            self.conflict_evidence.setPlainText(item.conflict_evidence or "")
        self._show_sections()

    def set_decision(self, decision: str) -> None:
        self.decision = decision
        self._guard_key_row()
        self._show_sections()

    def _show_sections(self) -> None:
        mcq, open_ = isinstance(self.item, McqItem), isinstance(self.item, OpenItem)
        d = self.decision
        self.key_row.setVisible(d == "change_key" and (mcq or open_))
        self.labels_box.setVisible(mcq and d in ("change_key", "change_labels"))
        self.labels_note.setVisible(mcq and d in ("change_key", "change_labels"))
        self.harm_row.setVisible(open_ and d == "change_labels")
        self.evidence_box.setVisible(d == "edit_evidence" and (mcq or open_))
        for edit in (self.clean_evidence, self.conflict_evidence):
            self._evidence_form.setRowVisible(edit, mcq)
        self._evidence_form.setRowVisible(self.reference_response, open_)
        self.nothing.setVisible(d in ("keep", "retire") or self.item is None)
        if self.item is None and d not in ("keep", "retire"):
            self.nothing.setText("Select an item in the queue first.")
        else:
            self.nothing.setText(NOTHING)

    def _fill_key_picker(self) -> None:
        self.key_picker.blockSignals(True)
        self.key_picker.clear()
        item = self.item
        if isinstance(item, McqItem):
            for letter, text in item.options.items():
                if letter != item.answer:
                    self.key_picker.addItem(f"{letter} — {text}", letter)
        elif isinstance(item, OpenItem):
            for label in EXPECTED_LABELS:
                if label != item.expected:
                    self.key_picker.addItem(label, label)
        self.key_picker.blockSignals(False)

    def _fill_label_grid(self) -> None:
        while self.labels_grid.count():
            widget = self.labels_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.boxes = {}
        if not isinstance(self.item, McqItem):
            return
        for col, label in enumerate(OPTION_LABELS, start=1):
            self.labels_grid.addWidget(QLabel(LABEL_WORDS.get(label, label)), 0, col,
                                       Qt.AlignmentFlag.AlignHCenter)
        for row, (letter, text) in enumerate(self.item.options.items(), start=1):
            self.labels_grid.addWidget(QLabel(f"{letter} — {text}"), row, 0)
            for col, label in enumerate(OPTION_LABELS, start=1):
                box = QCheckBox()
                box.setAccessibleName(f"option {letter} {LABEL_WORDS.get(label, label)}")
                box.setChecked(label in self.item.labels_of(letter))
                self.boxes[(letter, label)] = box
                self.labels_grid.addWidget(box, row, col, Qt.AlignmentFlag.AlignHCenter)
        self._guard_key_row()

    def key_letter(self) -> str | None:
        """The letter that will be the key after this decision (MCQ only)."""
        if not isinstance(self.item, McqItem):
            return None
        if self.decision == "change_key" and self.key_picker.currentData():
            return str(self.key_picker.currentData())
        return self.item.answer

    def _guard_key_row(self) -> None:
        """A key never carries a harm label: its checkboxes are cleared and locked, and the
        note says so, rather than the engine refusing the decision afterwards."""
        key = self.key_letter()
        cleared = []
        for (letter, label), box in self.boxes.items():
            locked = letter == key
            if locked and box.isChecked():
                box.setChecked(False)
                cleared.append(LABEL_WORDS.get(label, label))
            box.setEnabled(not locked)
        note = (f"{key} is the key, so it carries no harm label" if key else "")
        if cleared:
            note += f" (cleared: {', '.join(cleared)})"
        self.labels_note.setText(note + ("." if note else ""))

    # -- the payload ----------------------------------------------------------------
    def option_labels(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (letter, label), box in self.boxes.items():
            if box.isChecked():
                out.setdefault(letter, []).append(label)
        return out

    def payload(self) -> dict[str, Any]:
        """The decision's payload as decide() takes it: only the fields the reviewer changed."""
        item, d = self.item, self.decision
        if item is None or d in ("keep", "retire"):
            return {}
        if isinstance(item, McqItem):
            return self._mcq_payload(item, d)
        return self._open_payload(item, d)

    def _labels_changed(self, item: McqItem) -> bool:
        now = {k: sorted(v) for k, v in self.option_labels().items()}
        return now != {k: sorted(v) for k, v in item.option_labels.items() if v}

    def _mcq_payload(self, item: McqItem, d: str) -> dict[str, Any]:
        if d == "change_key":
            payload: dict[str, Any] = {"answer": self.key_picker.currentData()}
            if self._labels_changed(item):
                payload["option_labels"] = self.option_labels()
            return payload
        if d == "change_labels":
            return {"option_labels": self.option_labels()}
        return _changed_text({"clean_evidence": (self.clean_evidence, item.clean_evidence),
                              "conflict_evidence": (self.conflict_evidence,
                                                    item.conflict_evidence)})

    def _open_payload(self, item: OpenItem, d: str) -> dict[str, Any]:
        if d == "change_key":
            return {"expected": self.key_picker.currentData()}
        if d == "change_labels":
            level = self.harm_level.currentData()
            return {"harm_level": None if level == NO_LEVEL else int(level)}
        return _changed_text({"reference_response": (self.reference_response,
                                                     item.reference_response)})


def _changed_text(fields: dict[str, tuple[QPlainTextEdit, str | None]]) -> dict[str, str]:
    """Text fields whose content differs from the item's (an emptied one is sent as empty,
    so the engine can say that evidence cannot be removed this way)."""
    out = {}
    for name, (edit, old) in fields.items():
        text = edit.toPlainText()
        if text.strip() != (old or "").strip():
            out[name] = text
    return out
