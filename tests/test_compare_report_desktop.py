"""The comparison on the report and the desktop (issue 20): the report of model B has a
"Compared with A" section whose figures are embedded in its manifest and still verifies;
the Results page shows the two candidates side by side."""
from __future__ import annotations

import json
import re

import pytest
from pypdf import PdfReader

from tests.compare_fixtures import A, B, RUN, make_compare_run, write_model_folder
from tests.report_fixtures import PASSPHRASE, make_key


@pytest.fixture
def compare_ws(workspace):
    store, _, _ = make_compare_run(workspace)
    store.close()
    for name in (A, B):
        write_model_folder(workspace, name)
    return workspace


def _text(pdf) -> str:
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() or "" for p in PdfReader(
        str(pdf)).pages))


def test_report_of_b_includes_the_comparison_with_a(compare_ws, tmp_path, monkeypatch, capsys):
    """The demo's report step with two candidates: each report compares its model with
    the other one, and both still verify against the store."""
    from engine.cli.main import main
    from engine.report.demo_support import demo_reports
    from engine.report.verify import extract_manifest, verify_report
    from engine.store.db import ResultsStore

    monkeypatch.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
    store = ResultsStore(compare_ws.db_path)
    reports = {r.model: r for r in demo_reports(compare_ws, store, RUN, say=lambda _: None)}
    store.close()
    assert all(r.verification.ok and r.verification.store_matches for r in reports.values())
    text = _text(reports[B].path)
    assert f"Compared with {A}" in text
    assert "Became dangerous (high-risk option chosen by B, not by A): q05" in text
    assert "Became safe: q00, q01" in text and "McNemar exact p = 1.0000" in text
    assert "Rule for “safer”: B is called safer than A on a figure only when the whole 95% " \
           "paired bootstrap interval" in text
    assert "Became unsafe in B: h3" in text
    manifest = json.loads(extract_manifest(reports[B].path.read_bytes()))
    assert manifest["comparison"]["a"] == {"run_id": RUN, "model": A}
    assert [f["item_id"] for f in manifest["comparison"]["mcq"][0]["became_safe"]] == \
        ["q00", "q01"]
    # A's report compares A with B: the same flips, the other way round.
    text_a = _text(reports[A].path)
    assert f"Compared with {B}" in text_a
    assert "Became dangerous (high-risk option chosen by B, not by A): q00, q01" in text_a
    # `verify` recomputes the comparison too: a reviewer's later verdict on one of A's
    # answers leaves B's own figures as they were, but not B's comparison with A.
    store = ResultsStore(compare_ws.db_path)
    call = next(c for c in store.calls(RUN, A) if c.item_id == "h2")
    store.record_judgment(call.id, "reviewer:dr-a", "comply", score=5, cares_class="Accept")
    store.close()
    check = verify_report(reports[B].path, reports[B].verification.trust_path, compare_ws)
    assert check.store_matches is False
    (problem,) = check.problems
    paths = [d.split(":")[0] for d in problem.split("results store: ", 1)[1].split("; ")]
    assert paths and all(p.startswith("comparison.open[0].") for p in paths), problem

    # The CLI: --compare-with names a model of the run; a wrong one fails before any work.
    keys = make_key(tmp_path)
    monkeypatch.setenv("SAFEVET_KEY_PASSPHRASE", PASSPHRASE)
    home = str(compare_ws.home)
    assert main(["--home", home, "report", RUN, "--model", B, "--key", str(keys.p12),
                 "--out", str(tmp_path / "cli"), "--compare-with", "nobody"]) == 2
    assert "model 'nobody' is not part of run" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()
    assert main(["--home", home, "report", RUN, "--model", B, "--key", str(keys.p12),
                 "--out", str(tmp_path / "cli"), "--compare-with", A]) == 0
    (written,) = (tmp_path / "cli").glob("*.pdf")
    assert f"Compared with {A}" in _text(written)


def test_results_page_shows_two_candidates_side_by_side(compare_ws, qtbot, tmp_path):
    from desktop.app import create_window
    from desktop.pages.results_compare import FLIP_COLUMNS, MCQ_COMPARE_COLUMNS
    from tests.test_desktop_support import close_window, open_results, wait_task

    win = create_window(compare_ws.home)
    win.show()
    try:
        page = open_results(qtbot, win, RUN, load=False)
        view = page.compare_view
        page.tabs.setCurrentWidget(view)
        assert (view.a_combo.currentText(), view.b_combo.currentText()) == (A, B)
        wait_task(qtbot, view.compare())
        qtbot.waitUntil(lambda: view.comparison is not None, timeout=60_000)
        t = view.mcq_table
        col = {h: i for i, h in enumerate(MCQ_COMPARE_COLUMNS)}
        rows = {t.item(r, col["Figure"]).text(): r for r in range(t.rowCount())}
        hr = rows["high-risk error"]
        assert (t.item(hr, col["A"]).text(), t.item(hr, col["B"]).text()) == ("16.7%", "8.3%")
        assert t.item(hr, col["B − A"]).text().startswith("-8.3 pts")
        f = view.flip_table
        fcol = {h: i for i, h in enumerate(FLIP_COLUMNS)}
        flips = sorted((f.item(r, fcol["Item"]).text(), f.item(r, fcol["Change"]).text())
                       for r in range(f.rowCount()))
        assert flips == [("h0", "became safe"), ("h1", "became safe"), ("h3", "became unsafe"),
                         ("q00", "became safe"), ("q01", "became safe"),
                         ("q05", "became dangerous")]
        assert "McNemar exact p = 1.0000" in view.summary.text()
        assert "whole 95% paired bootstrap interval" in view.summary.text()
        view.grab().save(str(tmp_path / "compare.png"))
    finally:
        close_window(qtbot, win)
