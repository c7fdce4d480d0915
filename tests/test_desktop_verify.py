"""Desktop Reports → Verify: which certificate it trusts, chosen and remembered, and the
three plainly worded outcomes, on real signed reports (hospital key and demo key)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from engine.report.trust import TrustSource, resolve_trust_anchor, trust_setting_path
from engine.report.verify import VerifyOutcome
from engine.workspace import Workspace
from tests.test_desktop_support import LONG, close_window, error_dialogs, wait_task
from tests.test_verify_outcomes import HOSPITAL, Signed, _flip_middle, signed  # noqa: F401

DEMO_SIGNER = "SafeVet DEMO signing key"


@pytest.fixture
def ws_copy(signed: Signed, tmp_path, monkeypatch) -> Workspace:
    """A workspace after `make demo` whose hospital key was imported afterwards: the
    situation in which a genuine demo report used to read "NOT valid"."""
    home = tmp_path / "ws"
    shutil.copytree(signed.ws.home, home)
    monkeypatch.setenv("SAFEVET_HOME", str(home))
    ws = Workspace.open(home)
    for f in (signed.hospital.p12, signed.hospital.cert_pem):
        shutil.copyfile(f, ws.keys_dir / f.name)
    shutil.copyfile(signed.pdf, ws.reports_dir / "hospital-report.pdf")
    return ws


def _open(qtbot, home: Path):
    from desktop.app import create_window

    win = create_window(str(home))
    win.show()
    win.show_page("reports")
    return win


def _close(qtbot, win) -> None:
    close_window(qtbot, win)


@pytest.fixture
def page(qtbot, ws_copy):
    win = _open(qtbot, ws_copy.home)
    yield win.pages["reports"]
    _close(qtbot, win)


def _verify_row(qtbot, page, pdf: Path):
    page.refresh()
    rows = [page.table.item(r, 6).text() for r in range(page.table.rowCount())]
    page.table.selectRow(rows.index(str(pdf)))
    page.last_verification = None
    task = page.verify_selected()
    wait_task(qtbot, task)
    assert page.last_verification is not None
    return page.last_verification


def _demo_report(ws: Workspace) -> Path:
    return next(p for p in ws.reports_dir.glob("*.pdf") if p.name != "hospital-report.pdf")


def test_verify_names_the_trust_certificate_and_the_demo_signer(qtbot, page, ws_copy):
    label = page.trust_label.text()
    assert HOSPITAL in label and "not chosen by you" in label and "signer.cert.pem" in label

    # a genuine demo report is not "NOT valid": it is signed by someone not chosen to trust
    v = _verify_row(qtbot, page, _demo_report(ws_copy))
    assert v.outcome is VerifyOutcome.UNTRUSTED and v.intact and v.valid
    text = page.verdict.text()
    assert text.startswith("⚠ Not trusted — signed by a certificate you have not chosen to "
                           "trust.")
    assert DEMO_SIGNER in text and HOSPITAL in text and "DEMO signature" in text
    assert "NOT valid" not in text
    assert "DEMO key, not for clinical use" in page.verify_text.toPlainText()

    # the hospital's own report against the hospital certificate: valid and trusted
    v = _verify_row(qtbot, page, ws_copy.reports_dir / "hospital-report.pdf")
    assert v.outcome is VerifyOutcome.TRUSTED
    text = page.verdict.text()
    assert text.startswith("✓ Valid — signature valid and trusted.")
    assert text.count(HOSPITAL) >= 2 and "DEMO" not in text     # signer and trust cert


def test_choosing_the_trust_certificate_is_remembered(qtbot, page, ws_copy, monkeypatch):
    demo_cert = ws_copy.keys_dir / "demo" / "demo-signing.cert.pem"
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(demo_cert), "Certificate"))
    qtbot.mouseClick(page.trust_btn, Qt.MouseButton.LeftButton)
    assert trust_setting_path(ws_copy).is_file()
    label = page.trust_label.text()
    assert DEMO_SIGNER in label and "chosen by you" in label and "DEMO key" in label

    v = _verify_row(qtbot, page, _demo_report(ws_copy))
    assert v.outcome is VerifyOutcome.TRUSTED and v.signer_is_demo
    assert page.verdict.text().startswith("✓ Valid — signature valid and trusted.")
    assert "DEMO signature" in page.verdict.text()
    # now the hospital's report is the one signed by a certificate not chosen
    v = _verify_row(qtbot, page, ws_copy.reports_dir / "hospital-report.pdf")
    assert v.outcome is VerifyOutcome.UNTRUSTED
    assert HOSPITAL in page.verdict.text() and DEMO_SIGNER in page.verdict.text()

    # remembered for the workspace: a new window (and the engine) find the same choice
    anchor = resolve_trust_anchor(ws_copy)
    assert anchor.source is TrustSource.CHOSEN and anchor.path == demo_cert.resolve()
    win = _open(qtbot, ws_copy.home)
    try:
        again = win.pages["reports"].trust_label.text()
        assert DEMO_SIGNER in again and "chosen by you" in again
    finally:
        _close(qtbot, win)


def test_one_flipped_byte_reads_changed_after_signing(qtbot, page, ws_copy):
    bad = _flip_middle(ws_copy.reports_dir / "hospital-report.pdf",
                       ws_copy.reports_dir / "tampered.pdf")
    v = _verify_row(qtbot, page, bad)
    assert v.outcome is VerifyOutcome.CHANGED
    assert page.verdict.text().startswith("✗ NOT valid — the file was changed after signing.")
    assert "do not rely on this report" in page.verdict.text()


def test_without_a_certificate_verify_asks_and_refuses_junk(qtbot, page, ws_copy, tmp_path,
                                                            monkeypatch):
    for cert in ws_copy.keys_dir.rglob("*.cert.pem"):
        cert.unlink()
    page.refresh()
    assert "none chosen" in page.trust_label.text()
    asked: list[tuple] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: asked.append(a) or ("", ""))
    page.refresh()
    page.table.selectRow(0)
    assert page.verify_selected() is None and len(asked) == 1     # cancelled: nothing done
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(junk), ""))
    assert page.verify_selected() is None
    qtbot.waitUntil(lambda: bool(error_dialogs()), timeout=LONG)
    box = error_dialogs()[0]
    assert "not an X.509 certificate" in box.text() and "Traceback" not in box.text()
    box.accept()
    assert not trust_setting_path(ws_copy).exists()
