"""The desktop entry point and window: starts on a workspace, shows where it is and what
runs the models, and can be driven from the keyboard."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow, PAGE_ORDER
from tests.test_desktop_support import desk_ws, window  # noqa: F401


def test_main_opens_the_window_on_the_given_workspace(qapp, workspace):
    from desktop.app import main

    seen: list[MainWindow] = []

    def look_and_close() -> None:
        seen.extend(w for w in QApplication.topLevelWidgets()
                    if isinstance(w, MainWindow) and w.isVisible())
        # Closing the last window ends app.exec(). No extra QApplication.quit(): a second,
        # still-queued quit would stop every later test's event loop.
        for w in seen:
            w.close()

    QTimer.singleShot(300, look_and_close)
    assert main(["--home", str(workspace.home)]) == 0
    assert len(seen) == 1
    win = seen[0]
    assert str(workspace.home) in win.windowTitle()
    assert win.ws_label.text() == f"Workspace: {workspace.home}"
    assert win.provider_label.text().startswith("Execution provider: ")
    assert "ExecutionProvider" in win.provider_label.text()


def test_keyboard_reaches_every_page(window, qtbot):
    win, ws, name = window
    assert win.width() >= 1024 and win.height() >= 680
    for i, key in enumerate(PAGE_ORDER):
        qtbot.keyClick(win, Qt.Key(Qt.Key.Key_1 + i), Qt.KeyboardModifier.ControlModifier)
        assert win.stack.currentWidget() is win.pages[key], key
    # the page list itself walks with the arrow keys
    win.nav.setFocus()
    win.show_page("models")
    qtbot.keyClick(win.nav, Qt.Key.Key_Down)
    assert win.stack.currentWidget() is win.pages["suites"]
