"""The Qt binding keeps None's reference count: the pinned PySide6 must not leak or drop it.

PySide6 6.12.0 on CPython 3.11 dropped one reference to None each time None crossed the
binding (an item role never set, ``setData(None)``, a Python slot returning None). The
desktop's Results page reads thousands of unset roles on a real workspace (the demo's
1,680 calls), so after enough of them CPython aborted with "none_dealloc". These checks
count None's references around each kind of crossing; the broken binding fails them by
exactly the number of crossings, long before it would crash.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QApplication, QTableWidgetItem

CROSSINGS = 20_000
SLACK = 50  # other threads (Qt's, pytest's) may hold a few references of their own


def _none_refs_lost(action) -> int:
    before = sys.getrefcount(None)
    for _ in range(CROSSINGS):
        action()
    return before - sys.getrefcount(None)


def test_unset_item_role_keeps_none_referenced(qapp: QApplication) -> None:
    item = QTableWidgetItem("x")
    assert _none_refs_lost(lambda: item.data(Qt.ItemDataRole.UserRole + 5)) < SLACK


def test_set_data_none_keeps_none_referenced(qapp: QApplication) -> None:
    item = QStandardItem("x")
    assert _none_refs_lost(lambda: item.setData(None, Qt.ItemDataRole.UserRole)) < SLACK


class _Emitter(QObject):
    fired = Signal()


def test_slot_returning_none_keeps_none_referenced(qapp: QApplication) -> None:
    emitter = _Emitter()
    calls: list[int] = []
    emitter.fired.connect(lambda: calls.append(1))  # list.append returns None
    assert _none_refs_lost(emitter.fired.emit) < SLACK
    assert len(calls) == CROSSINGS
