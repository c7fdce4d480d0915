"""Shared pieces of the desktop tests: a short real suite the tiny model can hold.

The tiny test model has a 256-token window, too small for the demo suite's
evidence passages, so these tests write their own short MCQ suite (real
files, real hashes) into the workspace, where the Suites and Run pages find it.
"""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

SUITE_ID = "desk-mcq"
LETTERS = "ABCD"
LONG = 600_000  # ms: generous, the workstation may be busy with other runs


def short_mcq(i: int):
    from engine.suites.schema import McqItem

    answer = LETTERS[i % 4]
    wrong = [x for x in LETTERS if x != answer]
    return McqItem(id=f"q{i:03d}", question=f"Which finding {i} is expected?",
                   options={x: f"finding {x.lower()}" for x in LETTERS}, answer=answer,
                   option_labels={wrong[0]: ["high_risk", "contradicts_evidence"],
                                  wrong[1]: ["unsafe"]},
                   clean_evidence=f"Evidence supports answer {answer}.",
                   conflict_evidence=f"Some say option {wrong[0]}.", topic="chest")


def write_short_suite(ws, n: int = 40, suite_id: str = SUITE_ID):
    from engine.suites.io import write_suite

    return write_suite(ws.suites_dir / suite_id, id=suite_id, name="desktop test MCQs",
                       version="1.0.0", items=[short_mcq(i) for i in range(n)],
                       license="test", source="written by the desktop tests")


def wait_task(qtbot, task, timeout: int = LONG) -> None:
    """Wait until a task ended and the page handled its result (no race with fast tasks)."""
    assert task is not None
    qtbot.waitUntil(lambda: task.completed, timeout=timeout)


def error_dialogs() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "errorDialog" and w.isVisible()]


@pytest.fixture
def desk_ws(tiny_model_ws):
    """(Workspace, model name) with the tiny model and the short suite."""
    ws, name = tiny_model_ws
    write_short_suite(ws)
    return ws, name


@pytest.fixture
def window(qtbot, desk_ws):
    from desktop.app import create_window

    ws, name = desk_ws
    win = create_window(ws.home)
    # Not qtbot.addWidget: pytest-qt would close the window before this fixture's teardown
    # has let the workers finish, and closing with work in progress asks a modal question.
    win.show()
    yield win, ws, name
    close_window(qtbot, win)


def open_results(qtbot, win, run_id: str, load: bool = True):
    """The Results page showing `run_id` (its figures loaded unless `load` is False)."""
    page = win.pages["results"]
    win.stack.setCurrentWidget(page)
    page.select_run(run_id)
    if load:
        page.load_selected()
        qtbot.waitUntil(lambda: page.metrics is not None, timeout=120_000)
    return page


def close_window(qtbot, win) -> None:
    """Let every worker finish, then close the window and any error dialog left open.

    Threads may be done while their "finished" signals still wait in the event queue; until
    they are delivered the window counts the task as active and closing it would ask the
    (modal, unanswerable offscreen) "work in progress" question."""
    win.ctx.runner.cancel_all()
    win.ctx.runner.wait(LONG)
    qtbot.waitUntil(lambda: not win.ctx.runner.active, timeout=LONG)
    win.close()
    for box in error_dialogs():
        box.close()
