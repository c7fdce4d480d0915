"""A row of controls that wraps onto the next line instead of being clipped.

QHBoxLayout gives every control its minimum width or overlaps them when the window
is narrower than their sum (at 1024 px the Results page's Recompute sat on top of
the run selector). A flow layout puts what does not fit on a new line, so every
button stays whole and clickable at any width the window allows; controls whose
horizontal size policy expands (a run selector) share the spare width of their line.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Left-to-right lines, wrapping at the available width; height follows the width."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._right: set[int] = set()   # ids of items pushed to the right end of their line
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    # -- building -----------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt name)
        self._items.append(item)

    def add(self, *widgets: QWidget, right: bool = False) -> None:
        """Add controls in order; `right` keeps them at the right end of their line
        (a primary action), which is where a user looks for it in a plain row."""
        for w in widgets:
            self.addWidget(w)
            if right:
                self._right.add(id(self._items[-1]))

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        if 0 <= index < len(self._items):
            item = self._items.pop(index)
            self._right.discard(id(item))
            return item
        return None

    # -- sizing -------------------------------------------------------------
    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def sizeHint(self) -> QSize:  # noqa: N802
        """One line of everything: what the row wants when there is room."""
        m = self.contentsMargins()
        visible = [i for i in self._items if not i.isEmpty()]
        w = sum(max(i.minimumSize().width(), i.sizeHint().width()) for i in visible) \
            + self.spacing() * max(0, len(visible) - 1)
        h = max((i.sizeHint().height() for i in visible), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest single control: narrower than that nothing can help."""
        m = self.contentsMargins()
        size = QSize()
        for item in self._items:
            if not item.isEmpty():
                size = size.expandedTo(item.minimumSize())
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    # -- layout -------------------------------------------------------------
    def _lines(self, width: int) -> list[list[QLayoutItem]]:
        lines: list[list[QLayoutItem]] = [[]]
        used = 0
        for item in self._items:
            if item.isEmpty():
                continue
            w = _width(item, width)
            if lines[-1] and used + self.spacing() + w > width:
                lines.append([])
                used = 0
            used += (self.spacing() if lines[-1] else 0) + w
            lines[-1].append(item)
        return [line for line in lines if line]

    def _arrange(self, rect: QRect, apply: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        width = max(1, area.width())
        lines = self._lines(width)
        if not lines:
            return 0
        y = area.y()
        for line in lines:
            widths = [_width(i, width) for i in line]
            spare = width - sum(widths) - self.spacing() * (len(line) - 1)
            grow = [k for k, i in enumerate(line) if _expands(i)]
            if spare > 0 and grow:
                for k in grow:
                    widths[k] += spare // len(grow)
                spare = 0
            heights = [_height(i, min(widths[k], width)) for k, i in enumerate(line)]
            height = max(heights)
            if apply:
                x = area.x()
                for k, item in enumerate(line):
                    if id(item) in self._right and spare > 0:
                        x += spare     # the rest of the line moves to the right end
                        spare = 0
                    h = min(heights[k] if item.hasHeightForWidth() else height,
                            item.maximumSize().height())
                    item.setGeometry(QRect(QPoint(x, y + (height - h) // 2),
                                           QSize(min(widths[k], width), h)))
                    x += widths[k] + self.spacing()
            y += height + self.spacing()
        return y - self.spacing() - area.y() + m.top() + m.bottom()


def _expands(item: QLayoutItem) -> bool:
    return bool(item.expandingDirections() & Qt.Orientation.Horizontal)


def _width(item: QLayoutItem, width: int) -> int:
    """What an item takes on a line: its hint, never under its minimum, never over the line
    (line breaking and placing must agree, or the last item of a line hangs off its end)."""
    return min(max(item.minimumSize().width(), item.sizeHint().width()), width)


def _height(item: QLayoutItem, width: int) -> int:
    """A wrapping child (a nested flow row) is as tall as its lines at this width."""
    if item.hasHeightForWidth():
        return max(item.minimumSize().height(), item.heightForWidth(width))
    return item.sizeHint().height()
