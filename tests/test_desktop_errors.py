"""Desktop workers go through the engine's one error boundary: the dialog text is what the
CLI prints for the same failure, and a bug is one line naming the log file."""
from __future__ import annotations

import sqlite3

import pytest

from desktop.workers import TaskRunner
from engine.errors import InputError
from engine.failures import explain


def _failure_of(qtbot, fn) -> tuple[str, str]:
    runner = TaskRunner()
    seen: list[tuple[str, str]] = []
    task = runner.submit("Import", lambda progress, cancel: fn(),
                         on_failure=lambda title, message: seen.append((title, message)))
    qtbot.waitUntil(lambda: task.completed, timeout=10_000)
    runner.wait(10_000)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("exc", [
    InputError("suite.json", "not UTF-8 text (invalid start byte at byte 3)", line=1),
    sqlite3.OperationalError("database or disk is full"),
    PermissionError(13, "Permission denied", "/media/usb/model.onnx"),
])
def test_expected_failures_read_as_in_the_cli(qtbot, exc):
    def fail():
        raise exc
    title, message = _failure_of(qtbot, fail)
    assert title == "Import" and message == explain(exc).message
    assert "Traceback" not in message and "\n" not in message


def test_a_bug_is_one_line_with_the_log_file(qtbot, workspace):
    def fail():
        raise ZeroDivisionError("bug")
    _, message = _failure_of(qtbot, fail)
    log = workspace.home / "logs" / "safevet-errors.log"
    assert message.startswith("unexpected internal error (ZeroDivisionError: bug)")
    assert str(log) in message and "ZeroDivisionError" in log.read_text()
