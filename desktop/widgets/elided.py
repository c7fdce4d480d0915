"""A one-line label that shortens itself with '…' instead of widening the window.

A plain QLabel's minimum width is its whole text, so one long path (a report's
file name, the workspace folder, a progress message) made a page wider than a
1024 px window and the layout clipped or overlapped its neighbours. This label
may shrink to a few characters, keeps the start and end of the text (where
file names differ) and shows the whole text as its tooltip. `text()` is still
the full text.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStyleOption, QWidget


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(text, parent)
        self._mode = mode
        # Preferred: the whole text when there is room, down to a few characters when not.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setWordWrap(False)
        self._sync_tip()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        super().setText(text)
        self._sync_tip()

    def _sync_tip(self) -> None:
        self.setToolTip(self.text() if self.text() else "")

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        return QSize(min(fm.horizontalAdvance(self.text()), fm.horizontalAdvance("M" * 8)),
                     super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        opt = QStyleOption()
        opt.initFrom(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), self._mode, rect.width())
        self.style().drawItemText(painter, rect, int(self.alignment()), opt.palette,
                                  self.isEnabled(), text, self.foregroundRole())
        painter.end()

    def is_elided(self) -> bool:
        """Whether the label shows less than its text (the tests look for cut text)."""
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

