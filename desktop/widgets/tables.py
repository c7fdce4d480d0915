"""What every table of the desktop shares: numeric sorting, cells, and column widths.

A rate reads '12.5% [8–17]' and a size '1.2 MB', so sorting by text would put
'9.0%' after '12.5%' and 'KB' after 'MB'; every cell therefore carries a sort key
(SORT_ROLE), derived from its value or given explicitly, and SortItem compares by it.

Column widths: Qt's ResizeToContents lets one long file name push the figures
behind a horizontal scroll, and Stretch crushes the text column to '…' when space
is short. ColumnFitter sizes number columns to their contents, caps other text
columns (they elide in the middle, with the full text in a tooltip), and gives
the table's main text column whatever width is left, but never less than what
its text needs up to a floor: a narrow window scrolls instead of cutting ids.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QStyle, QTableWidget, QTableWidgetItem

from engine.number_format import DESKTOP

DASH = DESKTOP.missing

SORT_ROLE = Qt.ItemDataRole.UserRole + 1    # the value a column sorts by
FLAGS_ROLE = Qt.ItemDataRole.UserRole + 2   # row flags for TableFilter (on column 0)

TEXT_CAP = 260       # px: widest a secondary text column gets before it elides
MAIN_TEXT_FLOOR = 240  # px: the main text column never gets narrower than this (it scrolls)
TIP_CHARS = 36       # texts longer than this carry themselves as a tooltip

_UNITS = {"": 1.0, "%": 1.0, "pts": 1.0, "ms": 1.0, "s": 1.0, "M": 1.0, "B": 1.0,
          "KB": 1024.0, "MB": 1024.0 ** 2, "GB": 1024.0 ** 3}
_NUMBER = re.compile(r"^\s*([+\-−]?\d[\d,]*(?:\.\d+)?)\s*(%|pts|ms|s|M|KB|MB|GB|B)?"
                     r"(?:\s*[\[(].*)?\s*$")


@dataclass(frozen=True)
class Cell:
    """A table value with what plain text cannot say: how it sorts, its colour, its tip."""

    text: Any
    sort: Any = None
    color: str | None = None
    tip: str | None = None


def sort_key(value: Any) -> float | str | None:
    """Number for numbers and number-like text ('12.5% [8–17]', '+4.0 pts', '1.2 MB'),
    casefolded text otherwise, None for a missing value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    text = str(value).strip()
    if text in ("", "–", "-", "—"):
        return None
    m = _NUMBER.match(text)
    if m:
        return float(m.group(1).replace(",", "").replace("−", "-")) * _UNITS[m.group(2) or ""]
    return text.casefold()


class SortItem(QTableWidgetItem):
    """Sorts by SORT_ROLE: numbers as numbers, missing values last, then text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:  # type: ignore[override]
        a, b = self.data(SORT_ROLE), other.data(SORT_ROLE)
        rank_a, rank_b = _rank(a), _rank(b)
        if rank_a != rank_b:
            return rank_a < rank_b
        if a is None:
            return False
        return a < b


def _rank(key: Any) -> int:
    """Numbers before text before missing, so a mixed column still sorts sensibly."""
    if key is None:
        return 2
    return 0 if isinstance(key, float) else 1


def make_item(value: Any) -> SortItem:
    """A read-only cell for a plain value or a Cell."""
    cell = value if isinstance(value, Cell) else Cell(value)
    text = DASH if cell.text is None else str(cell.text)
    item = SortItem(text)
    item.setData(SORT_ROLE, sort_key(cell.text) if cell.sort is None else _plain(cell.sort))
    if cell.tip:
        item.setToolTip(cell.tip)
    elif len(text) > TIP_CHARS:
        item.setToolTip(text)
    if cell.color:
        from PySide6.QtGui import QColor
        item.setForeground(QColor(cell.color))
    return item


def _plain(key: Any) -> float | str:
    return float(key) if isinstance(key, (int, float)) else str(key).casefold()


def enable_sorting(table: QTableWidget) -> None:
    """Sortable by clicking a header, but in the engine's own order until the user asks:
    Qt would otherwise sort by the first column, descending, the moment sorting is on."""
    header = table.horizontalHeader()
    header.setSortIndicatorShown(True)
    header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    if hasattr(header, "setSortIndicatorClearable"):
        header.setSortIndicatorClearable(True)   # a third click restores the engine's order
    table.setProperty("sortable", True)
    table.setSortingEnabled(True)


def suspend_sorting(table: QTableWidget) -> None:
    """Stop sorting while rows are written in the engine's order (positions stay put)."""
    table.setSortingEnabled(False)


def resume_sorting(table: QTableWidget) -> None:
    """Sort again after a refill. When the user has sorted by a column the re-sort waits
    for the event loop, so code that decorates rows by their position right after the
    refill (a verdict colour, a tooltip) still reaches the row it means; the decoration
    then moves with its row."""
    if not table.property("sortable"):
        return
    if table.horizontalHeader().sortIndicatorSection() < 0:
        table.setSortingEnabled(True)
    else:
        QTimer.singleShot(0, table, lambda: table.setSortingEnabled(True))


class ColumnFitter(QObject):
    """Keeps a table's column widths sensible as its rows and its width change."""

    def __init__(self, table: QTableWidget, main: int | None) -> None:
        super().__init__(table)
        self.table = table
        self.main = main
        self._busy = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.fit)
        header = table.horizontalHeader()
        for c in range(table.columnCount()):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
        table.viewport().installEventFilter(self)
        model = table.model()
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.dataChanged,
                    header.sortIndicatorChanged):
            sig.connect(self.schedule)

    def schedule(self, *_: Any) -> None:
        self._timer.start()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Resize:
            self.schedule()
        return False

    def fit(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            self._fit()
        finally:
            self._busy = False

    def _fit(self) -> None:
        t = self.table
        header = t.horizontalHeader()
        cols = [c for c in range(t.columnCount()) if not header.isSectionHidden(c)]
        fixed = {c for c in cols
                 if header.sectionResizeMode(c) != QHeaderView.ResizeMode.Interactive}
        heads = self._header_widths(cols)
        widths: dict[int, int] = {}
        for c in cols:
            if c in fixed:
                continue
            need = max(heads[c], t.sizeHintForColumn(c))
            if c == self.main:
                need = min(need, MAIN_TEXT_FLOOR)
            elif not self._numeric(c):
                need = min(need, max(TEXT_CAP, heads[c]))
            widths[c] = need
        # The main text column takes the room the others leave. A table of figures has
        # none: its spare room stays empty rather than stretching a number column across
        # a wide screen, away from its header.
        filler = self.main if self.main in widths else None
        if filler is not None:
            others = sum(widths.get(c, header.sectionSize(c)) for c in cols if c != filler)
            widths[filler] = max(widths[filler], t.viewport().width() - others)
        for c, w in widths.items():
            if header.sectionSize(c) != w:
                header.resizeSection(c, w)

    def _header_widths(self, cols: list[int]) -> dict[int, int]:
        """Header widths without room for a sort arrow in every column (Qt reserves it in
        all of them, which alone pushed ECE, Brier and latency off screen); only the
        column the table is sorted by gets it."""
        header = self.table.horizontalHeader()
        shown = header.isSortIndicatorShown()
        if shown:
            header.blockSignals(True)
            header.setSortIndicatorShown(False)
        widths = {c: header.sectionSizeHint(c) for c in cols}
        if shown:
            header.setSortIndicatorShown(True)
            header.blockSignals(False)
            sorted_by = header.sortIndicatorSection()
            if sorted_by in widths:
                arrow = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize)
                widths[sorted_by] += arrow + 4
        return widths

    def _numeric(self, column: int, sample: int = 200) -> bool:
        """A column is numeric when every value it shows sorts as a number (or is missing)."""
        t = self.table
        seen = False
        for r in range(min(t.rowCount(), sample)):
            item = t.item(r, column)
            key = item.data(SORT_ROLE) if item is not None else None
            if key is None:
                continue
            if not isinstance(key, float):
                return False
            seen = True
        return seen


def fit_columns(table: QTableWidget) -> None:
    """Resize now (after a refill) rather than on the next event-loop turn."""
    fitter = table.findChild(ColumnFitter)
    if fitter is not None:
        fitter.fit()
