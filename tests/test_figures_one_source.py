"""One figure source: the desktop's Results page, the CLI's JSON export and table, and the
signed PDF's manifest show the same numbers for the same run, cell by cell (issue 19:
the screen drew 1000 resamples while the PDF drew 2000, so one cell showed two
intervals). Real store, real signed report, real Qt widgets offscreen."""
from __future__ import annotations

import json

import pytest

from engine.cli.main import main
from engine.figures import DEFAULT_N_BOOT, DEFAULT_SEED, run_figures
from engine.number_format import CLI, DESKTOP, rate
from engine.report.build import build_report
from engine.report.verify import extract_manifest
from engine.store.db import ResultsStore
from tests.report_fixtures import MODEL, PASSPHRASE, RUN_ID, make_key, make_run_workspace

RATES = ("accuracy", "high_risk_error_rate", "unsafe_answer_rate", "contradiction_rate",
         "dangerous_overconfidence")


@pytest.fixture
def reported(tmp_path):
    ws, store, suite = make_run_workspace(tmp_path / "home")
    keys = make_key(tmp_path)
    pdf = build_report(ws, store, RUN_ID, MODEL, keys.p12, PASSPHRASE, out_dir=tmp_path / "out")
    store.close()
    return ws, json.loads(extract_manifest(pdf.read_bytes()))


def _cells(mcq: list[dict]) -> dict[tuple[str, str], dict]:
    return {(c["model"], c["condition"]): {k: c[k] for k in RATES} for c in mcq}


def test_cli_json_and_pdf_manifest_agree_cell_by_cell(reported, capsys):
    ws, manifest = reported
    assert manifest["metric_params"] == {"tau": 0.8, "n_boot": DEFAULT_N_BOOT,
                                         "seed": DEFAULT_SEED, "call_order": "key"}
    assert main(["--home", str(ws.home), "results", RUN_ID, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["metric_params"] == manifest["metric_params"]
    cli, pdf = _cells(exported["metrics"]["mcq"]), _cells(manifest["metrics"]["mcq"])
    assert cli and cli == pdf
    assert exported["metrics"]["open"] == manifest["metrics"]["open"]


def test_cli_table_prints_the_report_intervals(reported, capsys):
    ws, manifest = reported
    assert main(["--home", str(ws.home), "results", RUN_ID]) == 0
    table = capsys.readouterr().out
    for cell in manifest["metrics"]["mcq"]:
        from engine.metrics.types import Estimate
        shown = rate(Estimate.model_validate(cell["high_risk_error_rate"]), style=CLI)
        assert shown in table, (cell["condition"], shown)
    assert f"{DEFAULT_N_BOOT} resamples" in table


def test_desktop_results_page_shows_the_report_figures(reported, qtbot):
    from desktop.app import create_window
    from engine.metrics.types import Estimate
    from tests.test_desktop_support import open_results

    ws, manifest = reported
    win = create_window(ws.home)
    win.show()
    try:
        page = open_results(qtbot, win, RUN_ID)
        shown = _cells([c.model_dump(mode="json") for c in page.metrics.mcq])
        assert shown == _cells(manifest["metrics"]["mcq"])
        texts = {page.mcq_table.item(r, c).text() for r in range(page.mcq_table.rowCount())
                 for c in range(page.mcq_table.columnCount()) if page.mcq_table.item(r, c)}
        for cell in manifest["metrics"]["mcq"]:
            acc = rate(Estimate.model_validate(cell["accuracy"]), style=DESKTOP)
            assert acc in texts, (cell["condition"], acc, sorted(texts)[:20])
    finally:
        qtbot.waitUntil(lambda: not win.ctx.runner.active, timeout=120_000)
        win.close()


def test_one_model_is_its_cell_of_the_whole_run(reported):
    ws, _ = reported
    store = ResultsStore(ws.db_path)
    whole = run_figures(store, RUN_ID, ws=ws)
    one = run_figures(store, RUN_ID, ws=ws, model=MODEL)
    assert [c.model_dump() for c in whole.mcq if c.model == MODEL] == \
        [c.model_dump() for c in one.mcq]
