"""Desktop Reports page: create a key, generate a signed PDF for a run, verify it,
detect a tampered copy, and ask the system viewer to open it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from engine.runs.executor import create_run, execute_run
from tests.test_desktop_support import LONG, SUITE_ID, desk_ws, window  # noqa: F401
from tests.test_desktop_support import error_dialogs, wait_task

PASSPHRASE = "correct horse battery"


class UrlCatcher(QObject):
    """Qt's own hook for file URLs: records what the page asked the system to open."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def _completed_run(win, name: str) -> str:
    ctx = win.ctx
    run_id = create_run(ctx.ws, ctx.store, models=[name], suites=[SUITE_ID],
                        conditions=["closed_book", "clean_evidence"], profile="smoke",
                        overrides={"item_limit": 12})
    assert execute_run(ctx.ws, ctx.store, run_id).status == "completed"
    ctx.notify_runs()
    return run_id


def _wait(qtbot, task) -> None:
    wait_task(qtbot, task)


def test_generate_sign_verify_and_open(window, qtbot, tmp_path):
    win, ws, name = window
    run_id = _completed_run(win, name)
    win.show_page("reports")
    page = win.pages["reports"]
    assert page.run_combo.currentData() == run_id
    assert page.model_combo.currentData() == name

    _wait(qtbot, page.create_key("Test Hospital", PASSPHRASE))
    assert page.key_combo.currentData() and Path(page.key_combo.currentData()).is_file()

    # a wrong passphrase is the engine's clear message in a dialog
    page.passphrase.setText("not the passphrase")
    qtbot.mouseClick(page.generate_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(error_dialogs()), timeout=LONG)
    box = error_dialogs()[0]
    assert "passphrase" in box.text().lower() and "Traceback" not in box.text()
    box.accept()
    assert page.last_report is None

    page.passphrase.setText(PASSPHRASE)
    qtbot.mouseClick(page.generate_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_report is not None, timeout=LONG)
    pdf = page.last_report
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert pdf.parent == ws.reports_dir or ws.reports_dir in pdf.parents
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=LONG)
    assert page.table.item(0, 6).text() == str(pdf)
    # model, run and the signed overall verdict are read back from the embedded manifest
    assert page.table.item(0, 1).text() == name and page.table.item(0, 2).text() == run_id
    assert page.table.item(0, 3).text() in ("PASS", "FAIL", "NOT ASSESSED",
                                            "NOT FULLY ASSESSED")

    qtbot.mouseClick(page.verify_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_verification is not None, timeout=LONG)
    v = page.last_verification
    assert v.ok, v.problems
    assert v.run_id == run_id and v.model == name
    assert page.verdict.text().startswith("✓ Valid")

    # a tampered copy fails verification and the page says so
    bad = ws.reports_dir / "tampered.pdf"
    data = bytearray(pdf.read_bytes())
    i = data.find(b"SafeVet", len(data) // 3)
    assert i > 0
    data[i:i + 7] = b"SafeVex"
    bad.write_bytes(bytes(data))
    page.last_verification = None
    _wait(qtbot, page.verify(bad, Path(page.key_combo.currentData()).with_suffix(".cert.pem")))
    assert page.last_verification is not None and not page.last_verification.ok
    assert "NOT valid" in page.verdict.text()

    # Open asks the system viewer for the PDF's file URL
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        page.refresh()
        for r in range(page.table.rowCount()):
            if page.table.item(r, 6).text() == str(pdf):
                page.table.selectRow(r)
        qtbot.mouseClick(page.open_btn, Qt.MouseButton.LeftButton)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(pdf)]


def test_demo_reports_verify_in_one_click(window, qtbot, monkeypatch):
    """After `make demo` the only certificate is the demo key's (keys/demo/): Verify uses it
    instead of asking for a file."""
    from PySide6.QtWidgets import QFileDialog

    from engine.report.demo_support import demo_reports
    win, ws, name = window
    run_id = _completed_run(win, name)
    (report,) = demo_reports(ws, win.ctx.store, run_id, say=lambda _: None)
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: asked.append(a) or ("", ""))
    win.show_page("reports")
    page = win.pages["reports"]
    page.refresh()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=LONG)
    page.table.selectRow(0)
    _wait(qtbot, page.verify_selected())
    assert not asked
    v = page.last_verification
    assert v.ok, v.problems
    assert Path(v.path) == report.path
