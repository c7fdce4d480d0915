"""Small shared pieces: page headers, read-only tables, number formats, dialogs.

Tables are sortable (numbers as numbers, see desktop.widgets.tables), size their
columns to what they hold, and keep the engine's row order until a header is
clicked. The number formats are engine.number_format's, bound to the desktop style, so
every page writes a rate and its interval by the same rules as the CLI and the
report (percent, one decimal, interval in brackets).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Iterable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QMessageBox,
                               QProgressBar, QScrollArea, QSizePolicy, QTableWidget, QVBoxLayout,
                               QWidget)

from desktop.style import theme
from desktop.widgets.elided import ElidedLabel
from desktop.widgets.tables import (FLAGS_ROLE, Cell, ColumnFitter, enable_sorting, fit_columns,
                                    make_item, resume_sorting, suspend_sorting)
from engine.events import ProgressEvent
from engine.number_format import DESKTOP, clock, percent, points, rate, scalar, score

DASH = DESKTOP.missing
pct = partial(rate, style=DESKTOP)            # Estimate or bare rate: '12.5% [8–17]'
whole_pct = partial(percent, digits=0, style=DESKTOP)  # a rate in prose: '85%'
num = partial(scalar, style=DESKTOP)          # '0.042'; counts whole
est_num = partial(score, style=DESKTOP)       # a score (harm 1-5, CARES 0-1): '2.10 [1.9–2.3]'
signed_pts = partial(points, style=DESKTOP)   # '+4.0 pts  [-1.5, +9.5]'
duration = partial(clock, style=DESKTOP)      # '1:02:03', '4:05'


def human_bytes(n: int | None) -> str:
    if n is None:
        return DASH
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def show_error(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """The engine's message in a dialog; non-blocking (open()) so workers keep running."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("errorDialog")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def page_header(title: str, subtitle: str) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 6)
    lay.setSpacing(2)
    t = QLabel(title)
    t.setObjectName("pageTitle")
    s = QLabel(subtitle)
    s.setObjectName("pageSubtitle")
    s.setWordWrap(True)
    lay.addWidget(t)
    lay.addWidget(s)
    return w


def make_table(headers: Sequence[str], stretch: int | None = None,
               sortable: bool = True) -> QTableWidget:
    """A read-only, row-selecting, sortable table that keyboard users can walk.

    `stretch` is the main text column: it takes the width the others leave (a table of
    figures has none and keeps its spare room empty). Long texts elide in the middle and
    carry a tooltip.
    """
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(list(headers))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    t.setWordWrap(False)
    t.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    t.setTabKeyNavigation(False)
    t.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    t.horizontalHeader().setStretchLastSection(False)
    t.horizontalHeader().setHighlightSections(False)
    ColumnFitter(t, stretch)
    if sortable:
        enable_sorting(t)
    return t


def fill_table(table: QTableWidget, rows: Iterable[Sequence[Any]],
               danger_cols: Iterable[int] = (), keys: Sequence[Any] | None = None,
               flags: Sequence[Iterable[str]] | None = None) -> None:
    """Replace a table's rows; `keys` are stored on column 0 (UserRole) for lookups and
    `flags` (per row) on column 0 for a TableFilter. A value may be a Cell (sort key,
    colour, tooltip). Rows are placed in the given order, then re-sorted if the user has
    sorted the table."""
    rows = list(rows)
    suspend_sorting(table)
    # Drop the old selection silently: detail views must not look up old keys mid-refill,
    # and selecting row 0 afterwards must count as a change.
    table.blockSignals(True)
    table.clearSelection()
    table.setCurrentItem(None)
    table.setRowCount(len(rows))
    danger = set(danger_cols)
    danger_color = QColor(theme().danger)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = make_item(value)
            plain = value.text if isinstance(value, Cell) else value
            if c in danger and plain not in (None, DASH, "", "0", 0):
                item.setForeground(danger_color)
            if c == 0 and keys is not None:
                item.setData(Qt.ItemDataRole.UserRole, keys[r])
            if c == 0 and flags is not None:
                item.setData(FLAGS_ROLE, sorted(set(flags[r])))
            table.setItem(r, c, item)
    table.blockSignals(False)
    resume_sorting(table)
    fit_columns(table)


def row_of_key(table: QTableWidget, key: Any) -> int:
    """The row whose column-0 key is `key` (rows move when the user sorts), else -1."""
    for r in range(table.rowCount()):
        item = table.item(r, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == key:
            return r
    return -1


def selected_key(table: QTableWidget) -> Any:
    row = table.currentRow()
    if row < 0 or table.item(row, 0) is None:
        return None
    return table.item(row, 0).data(Qt.ItemDataRole.UserRole)


class ProgressLine(QWidget):
    """A bar and a one-line message for any long task (import, ingest, verify)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(320)
        # Elided: a long path in a message must not widen the page past the window.
        self.label = ElidedLabel("")
        self.label.setObjectName("muted")
        lay.addWidget(self.bar)
        lay.addWidget(self.label, 1)
        self.idle()

    def idle(self, message: str = "") -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setVisible(False)
        self.label.setText(message)

    def busy(self, message: str) -> None:
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)  # indeterminate until the engine gives a total
        self.label.setText(message)

    def on_event(self, ev: ProgressEvent) -> None:
        self.bar.setVisible(True)
        if ev.total:
            self.bar.setRange(0, ev.total)
            self.bar.setValue(min(ev.done or 0, ev.total))
        if ev.message:
            self.label.setText(ev.message)


def muted_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("muted")   # the stylesheet colours it for the light or dark theme
    lab.setWordWrap(True)
    return lab


def shrinkable_combo(combo: QComboBox, chars: int = 24) -> QComboBox:
    """Let a combo box be narrower than its longest entry (a run id with its models is
    wider than a 1024 px window's share); the full entry is its tooltip."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    combo.currentTextChanged.connect(combo.setToolTip)
    return combo


def labelled_picker(label: str, combo: QComboBox, chars: int,
                    max_width: int | None = None) -> QWidget:
    """"Label: [combo]" as one widget for a wrapping toolbar row: the combo takes the
    spare width, and shrinks below its longest entry rather than pushing buttons away."""
    picker = QWidget()
    row = QHBoxLayout(picker)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(QLabel(label))
    row.addWidget(shrinkable_combo(combo, chars=chars), 1)
    picker.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    if max_width is not None:
        picker.setMaximumWidth(max_width)
    return picker


def scroll_area(body: QWidget, horizontal: bool = False) -> QScrollArea:
    """Content taller than the window scrolls instead of squashing controls together."""
    area = QScrollArea()
    area.setWidget(body)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    if not horizontal:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area
