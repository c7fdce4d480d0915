"""Desktop Run and Results pages on a real tiny ONNX model and a real results store.

Drives the widgets as a user would (check boxes, click Start / Cancel / Resume)
offscreen; the engine work runs in the page's worker thread for real.
"""
from __future__ import annotations

import csv
import io
import json
import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar

from engine.store.db import ResultsStore
from tests.test_desktop_support import LONG, SUITE_ID as MCQ, desk_ws, window  # noqa: F401
from tests.test_desktop_support import error_dialogs as _error_dialogs
from tests.test_desktop_support import wait_task


def _bars_full(page) -> bool:
    t = page.cell_table
    bars = [t.cellWidget(r, 2) for r in range(t.rowCount())]
    return bool(bars) and all(isinstance(b, QProgressBar) and b.value() == b.maximum()
                              for b in bars)


def test_small_run_reaches_100_percent_and_results_appear(window, qtbot, tmp_path):
    win, ws, name = window
    win.show_page("run")
    page = win.pages["run"]
    page.select(models=[name], suites=[MCQ], conditions=["closed_book", "clean_evidence"],
                profile="smoke")
    assert page.checked(page.models_list) == [name]
    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    assert page.running and not page.start_btn.isEnabled() and page.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: page.last_outcome is not None and not page.running, timeout=LONG)

    outcome = page.last_outcome
    assert outcome.status == "completed"
    assert outcome.done == outcome.total == 8          # smoke: 4 items × 2 conditions
    assert page.overall.value() == page.overall.maximum() == 8
    assert page.cell_table.rowCount() == 2 and _bars_full(page)
    # live headline figures arrived while the calls completed
    accuracy = [page.cell_table.item(r, 4).text() for r in range(2)]
    assert all(a.endswith("%") for a in accuracy), accuracy
    assert [page.cell_table.item(r, 7).text() for r in range(2)] == ["–", "–"]  # no errors
    assert len(ResultsStore(ws.db_path).calls(outcome.run_id)) == 8

    # "Show results" lands on the Results page with this run's cells
    qtbot.mouseClick(page.results_btn, Qt.MouseButton.LeftButton)
    results = win.pages["results"]
    assert win.stack.currentWidget() is results
    qtbot.waitUntil(lambda: results.metrics is not None, timeout=LONG)
    assert results.metrics.run_id == outcome.run_id
    assert results.mcq_table.rowCount() == 2
    conds = {results.mcq_table.item(r, 2).text() for r in range(2)}
    assert conds == {"Closed-book", "Clean evidence"}
    assert "[" in results.mcq_table.item(0, 4).text()  # accuracy carries its interval
    assert results.chart.figure.axes, "charts were drawn"
    assert results.paired_table.rowCount() >= 1       # clean evidence vs closed-book

    # exports are the engine's own JSON / CSV
    out_json, out_csv = tmp_path / "run.json", tmp_path / "run.csv"
    wait_task(qtbot, results.export_json(str(out_json)))
    data = json.loads(out_json.read_text())
    assert data["run"]["id"] == outcome.run_id and len(data["calls"]) == 8
    wait_task(qtbot, results.export_csv(raw=False, path=str(out_csv)))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert {r["condition"] for r in rows} == {"closed_book", "clean_evidence"}


def test_cancel_mid_run_stops_and_resume_finishes(window, qtbot):
    win, ws, name = window
    win.show_page("run")
    page = win.pages["run"]
    # demo profile: all 40 items, 4 option orders each on closed-book: 160 calls to cancel in
    page.select(models=[name], suites=[MCQ], conditions=["closed_book"], profile="demo")

    # Hold the worker on its first stored call until the user has clicked Cancel, so the
    # test does not race a fast tiny model. The hook only waits; it changes nothing.
    clicked = threading.Event()
    first_call = threading.Event()

    def hold(ev):
        if ev.stage == "call" and not first_call.is_set():
            first_call.set()
            clicked.wait(60)

    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    page.task.signals.progress.connect(hold, Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: page.overall.value() >= 1 and page.cell_table.rowCount() == 1,
                    timeout=LONG)
    assert first_call.is_set()
    qtbot.mouseClick(page.cancel_btn, Qt.MouseButton.LeftButton)
    assert "Cancelling" in page.status.text()
    clicked.set()
    qtbot.waitUntil(lambda: page.last_outcome is not None and not page.running, timeout=LONG)

    first = page.last_outcome
    assert first.status == "interrupted"
    assert 0 < first.done < first.total
    run_id = first.run_id
    store = ResultsStore(ws.db_path)
    assert store.get_run(run_id).status == "interrupted"
    assert len(store.calls(run_id)) == first.done
    assert "Resume continues" in page.status.text()

    # the interrupted run is offered for resume; resuming finishes it without repeating calls
    idx = page.resume_combo.findData(run_id)
    assert idx >= 0 and page.resume_btn.isEnabled()
    page.resume_combo.setCurrentIndex(idx)
    qtbot.mouseClick(page.resume_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_outcome is not None and not page.running, timeout=LONG)
    second = page.last_outcome
    assert second.run_id == run_id and second.status == "completed"
    assert second.skipped == first.done
    assert second.done == second.total == first.total
    assert page.overall.value() == page.overall.maximum() and _bars_full(page)
    calls = store.calls(run_id)
    assert len(calls) == first.total
    assert len({c.key for c in calls}) == len(calls)          # nothing stored twice
    assert page.resume_combo.findData(run_id) < 0             # no longer resumable


def test_engine_error_is_shown_in_a_dialog(window, qtbot):
    win, ws, name = window
    win.show_page("run")
    page = win.pages["run"]
    # a retrieval condition without a corpus: the engine refuses with a clear message
    page.select(models=[name], suites=[MCQ], conditions=["closed_book", "standard_rag"],
                profile="smoke")
    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(_error_dialogs()), timeout=LONG)
    box = _error_dialogs()[0]
    assert "need a corpus" in box.text() and "standard_rag" in box.text()
    assert "Traceback" not in box.text()
    qtbot.waitUntil(lambda: not page.running, timeout=LONG)
    assert page.start_btn.isEnabled() and not page.cancel_btn.isEnabled()
    box.accept()
    assert ResultsStore(ws.db_path).list_runs() == []         # nothing half-created


def test_bug_in_worker_is_reported_without_traceback(qtbot, workspace):
    """A non-SafeVetError is logged, and the dialog gets one line instead of a traceback."""
    from desktop.workers import TaskRunner

    runner = TaskRunner()
    failures: list[tuple[str, str]] = []

    def boom(progress, cancel):
        raise ZeroDivisionError("division by zero")

    task = runner.submit("Broken", boom, on_failure=lambda t, m: failures.append((t, m)))
    wait_task(qtbot, task)
    assert failures and failures[0][0] == "Broken"
    assert "ZeroDivisionError" in failures[0][1] and "Traceback" not in failures[0][1]
    runner.wait()
