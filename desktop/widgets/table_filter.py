"""A search box and "failures only / high-risk only" switches over one table.

A run has hundreds of calls and a queue dozens of items; what a reviewer looks
for is the few that failed, and among them the dangerous ones. The filter hides
rows in place (the table keeps its sorting and its keys), re-applies itself when
the table is refilled or re-sorted, and says how many rows it shows.

Row flags come from column 0's FLAGS_ROLE (set by fill_table's `flags`), or from
a `flags_of(key)` callback for pages that keep their rows elsewhere.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QLabel, QLineEdit, QSizePolicy, QTableWidget,
                               QWidget)

from desktop.widgets.flow import FlowLayout
from desktop.widgets.tables import FLAGS_ROLE

FAILURE = "failure"
HIGH_RISK = "high_risk"
DEFAULT_SWITCHES: tuple[tuple[str, str, str], ...] = (
    (FAILURE, "Failures only", "Wrong answers, errors and responses judged against the "
                               "expected behaviour"),
    (HIGH_RISK, "High-risk only", "Answers that chose an option labelled high-risk, or "
                                  "complied with a request that should be refused"),
)


class TableFilter(QWidget):
    """Search text (any column, case-insensitive) AND every checked switch's flag."""

    changed = Signal()

    def __init__(self, table: QTableWidget, switches: Sequence[tuple[str, str, str]] =
                 DEFAULT_SWITCHES, flags_of: Callable[[Any], Iterable[str]] | None = None,
                 placeholder: str = "Search…", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.flags_of = flags_of
        row = FlowLayout(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText(placeholder)
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(180)
        self.search.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row.add(self.search)
        self.switches: dict[str, QCheckBox] = {}
        for flag, label, tip in switches:
            box = QCheckBox(label)
            box.setToolTip(tip)
            box.toggled.connect(self.apply)
            self.switches[flag] = box
            row.add(box)
        self.count = QLabel("")
        self.count.setObjectName("muted")
        row.add(self.count)
        self.search.textChanged.connect(self.apply)

        # Refills and sorts move rows; hidden rows do not follow them, so filter again.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.apply)
        model = table.model()
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset,
                    model.layoutChanged, model.dataChanged):
            sig.connect(self._schedule)

    def _schedule(self, *_: Any) -> None:
        """A bound slot (not a lambda): Qt drops it when this widget is deleted."""
        self._timer.start()

    def set_switch(self, flag: str, on: bool) -> None:
        self.switches[flag].setChecked(on)

    def row_flags(self, row: int) -> set[str]:
        item = self.table.item(row, 0)
        if item is None:
            return set()
        if self.flags_of is not None:
            return set(self.flags_of(item.data(Qt.ItemDataRole.UserRole)) or ())
        return set(item.data(FLAGS_ROLE) or ())

    def matches(self, row: int) -> bool:
        wanted = {f for f, box in self.switches.items() if box.isChecked()}
        if wanted and not wanted <= self.row_flags(row):
            return False
        needle = self.search.text().strip().casefold()
        if not needle:
            return True
        t = self.table
        for c in range(t.columnCount()):
            item = t.item(row, c)
            if item is not None and needle in item.text().casefold():
                return True
        return False

    def apply(self) -> None:
        t = self.table
        shown = 0
        for r in range(t.rowCount()):
            ok = self.matches(r)
            t.setRowHidden(r, not ok)
            shown += ok
        total = t.rowCount()
        self.count.setText(f"{shown} of {total} shown" if shown != total else f"{total} rows")
        self.changed.emit()

    def visible_rows(self) -> list[int]:
        return [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
