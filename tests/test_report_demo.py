"""The demo's report step: makes a demo key when there is no real one, signs and verifies."""
from __future__ import annotations

from engine.report.demo_support import demo_reports
from engine.report.keys import default_key
from engine.store.db import ResultsStore
from tests.report_fixtures import MODEL, RUN_ID, make_run, make_suite


def test_demo_makes_a_demo_key_and_verified_reports(workspace, monkeypatch):
    monkeypatch.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
    suite = make_suite(workspace)
    store = ResultsStore(workspace.db_path)
    make_run(workspace, store, suite)
    said: list[str] = []
    reports = demo_reports(workspace, store, RUN_ID, say=said.append)
    store.close()
    assert [r.model for r in reports] == [MODEL]
    assert reports[0].verification.ok and reports[0].verification.store_matches
    assert any("DEMO key" in s for s in said)
    assert (workspace.keys_dir / "demo" / "demo-signing.p12").exists()
    # the demo key never becomes the default key for real reports
    assert not list(workspace.keys_dir.glob("*.p12"))
    try:
        default_key(workspace.keys_dir)
    except Exception as exc:
        assert "no signing key" in str(exc)
