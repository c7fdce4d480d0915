"""Answer-strategy baselines beside every MCQ accuracy, and "not applicable" for rates a
suite has no labels for (issue 18 parts 5 and 7).

Hand-made items with hand-computed baselines (ties for longest included); a
PubMedQA-like suite imported through the real importer, scored from a real results
store, shown by the real CLI, the real signed PDF and the real Results page offscreen.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from engine.metrics.baselines import baseline_flag, longest_credit, most_common_keys, \
    relation_of
from engine.metrics.compute import compute_run_metrics
from engine.metrics.types import Estimate
from engine.number_format import CLI, DESKTOP, REPORT, rate
from engine.report.thresholds import Verdict, evaluate, load_thresholds
from engine.store.db import CallRecord, ResultsStore
from engine.suites.importers import import_suite
from engine.suites.importers.pubmedqa import read_items
from engine.suites.schema import McqItem, Suite
from engine.workspace import Workspace
from tests.report_fixtures import MODEL, PASSPHRASE, make_key, make_model_manifest
from tests.test_metrics_data import call, manifest, new_store

RUN = "run-1"
PMQA_RUN = "run-pmqa"
PMQA_ID = "pubmedqa-like"
# Nine PubMedQA-like records: five "yes", three "no", one "maybe" (5/9 = 55.6% yes).
DECISIONS = ["yes", "no", "yes", "maybe", "yes", "no", "yes", "no", "yes"]


# -- hand-made items ----------------------------------------------------------------------

def hand_suite() -> Suite:
    """Four items whose baselines are worked out in `test_baselines_by_hand`."""
    items = [
        # 3 options, key B is the longest: longest credit 1, chance 1/3
        McqItem(id="h1", question="?", options={"A": "short", "B": "much longer text",
                                                "C": "mid"}, answer="B",
                option_labels={"A": ["high_risk"]}),
        # A and C tie for longest (4 characters), key C: credit 1/2; chance 1/4
        McqItem(id="h2", question="?", options={"A": "aaaa", "B": "b", "C": "cccc",
                                                "D": "d"}, answer="C"),
        # 2 options, key A, B longest: credit 0; chance 1/2 (outer spaces do not count)
        McqItem(id="h3", question="?", options={"A": "  yes  ", "B": "no, not"}, answer="A"),
        # key A, B the longest: credit 0; chance 1/4
        McqItem(id="h4", question="?", options={"A": "one", "B": "three words here",
                                                "C": "x", "D": "y"}, answer="A"),
    ]
    return Suite(manifest=manifest("hand", len(items)), items=items)


def hand_metrics(tmp_path, chosen: dict[str, str], n_boot: int = 500):
    store = new_store(tmp_path)
    for item_id, letter in chosen.items():
        store.record_call(call("m", item_id, "closed_book", letter, 0.6, suite="hand"))
    (cell,) = compute_run_metrics(store, RUN, {"hand": hand_suite()}, n_boot=n_boot,
                                  seed=3).mcq
    return cell


def test_baselines_by_hand(tmp_path):
    # right on h1 and h4, wrong on h2 and h3: accuracy 2/4
    cell = hand_metrics(tmp_path, {"h1": "B", "h2": "A", "h3": "B", "h4": "A"})
    b = cell.baselines
    assert b is not None and b.n == 4
    assert b.chance == pytest.approx((1 / 3 + 1 / 4 + 1 / 2 + 1 / 4) / 4)
    assert b.longest == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    # keys B, C, A, A: A is the key in 2 of 4
    assert b.common_key == pytest.approx(0.5) and b.common_key_letters == ["A"]
    assert b.best == "common_key" and b.best_value == pytest.approx(0.5)
    # per item correct − always-A credit: 1−0, 0−0, 0−1, 1−1 → mean 0: level with it
    assert b.margin.value == pytest.approx(0.0) and b.margin.n == 4
    assert b.relation == "level"
    assert baseline_flag(b) == "level with the most-common-key (A) baseline"


def test_baselines_are_over_the_answered_items_only(tmp_path):
    store = new_store(tmp_path)
    for item_id, letter in {"h1": "B", "h2": "C", "h3": "A"}.items():
        store.record_call(call("m", item_id, "closed_book", letter, 0.6, suite="hand"))
    store.record_call(call("m", "h4", "closed_book", None, None, error="boom", suite="hand"))
    (cell,) = compute_run_metrics(store, RUN, {"hand": hand_suite()}, n_boot=200).mcq
    b = cell.baselines
    # h4 failed: it is in neither the accuracy nor the baselines
    assert cell.accuracy.n == b.n == 3 and cell.accuracy.value == 1.0
    assert b.chance == pytest.approx((1 / 3 + 1 / 4 + 1 / 2) / 3)
    assert b.longest == pytest.approx(1.5 / 3)
    # keys B, C, A: a three-way tie, every letter named, each scores 1/3
    assert b.common_key_letters == ["A", "B", "C"] and b.common_key == pytest.approx(1 / 3)
    # longest (0.5) is the best; the model is right on all three
    assert b.best == "longest" and b.margin.value == pytest.approx(0.5)


def test_tied_longest_shares_credit_and_tie_between_baselines_names_longest():
    assert longest_credit(McqItem(id="t", question="?", options={"A": "ab", "B": "cd",
                                                                  "C": "ef"}, answer="B")) \
        == pytest.approx(1 / 3)
    assert most_common_keys([]) == []
    items = [McqItem(id=f"t{i}", question="?", options={"A": "long answer", "B": "no"},
                     answer=key) for i, key in enumerate("AB")]
    from engine.metrics.baselines import baselines
    import numpy as np
    b = baselines(items, [True, True], 100, np.random.default_rng(0))
    # longest 1/2, common key 1/2 (A and B tie), chance 1/2: the tie names longest first
    assert (b.longest, b.common_key, b.chance) == (0.5, 0.5, 0.5) and b.best == "longest"


def test_a_key_that_is_usually_the_longest_option_is_flagged(tmp_path):
    items = [McqItem(id=f"L{i}", question="?", options={"A": "the long, careful answer",
                                                         "B": "short", "C": "brief"},
                     answer="A" if i < 3 else "B") for i in range(4)]
    suite = Suite(manifest=manifest("len", 4), items=items)
    store = new_store(tmp_path)
    for it in items:                        # always "C": never right
        store.record_call(call("m", it.id, "closed_book", "C", 0.5, suite="len"))
    (cell,) = compute_run_metrics(store, RUN, {"len": suite}, n_boot=200).mcq
    b = cell.baselines
    assert b.longest == pytest.approx(0.75) and b.common_key == pytest.approx(0.75)
    assert b.best == "longest"            # a tie with the key letter names length first
    assert baseline_flag(b) == "below the always-longest baseline"


@pytest.mark.parametrize("margin,relation", [
    (Estimate(value=-0.1, low=-0.2, high=0.0, n=10), "below"),
    (Estimate(value=0.0, low=-0.1, high=0.1, n=10), "level"),
    (Estimate(value=0.05, low=-0.02, high=0.12, n=10), "not_clearly_above"),
    (Estimate(value=0.05, low=0.0, high=0.12, n=10), "not_clearly_above"),
    (Estimate(value=0.2, low=0.1, high=0.3, n=10), "above"),
])
def test_relation_reads_the_margin_interval(margin, relation):
    assert relation_of(margin) == relation


def test_labelled_suite_rates_stay_applicable_and_unlabelled_ones_do_not(tmp_path):
    cell = hand_metrics(tmp_path, {"h1": "A", "h2": "C", "h3": "A", "h4": "A"})
    # only h1 carries a label (high_risk): high-risk and dangerous rates apply
    assert cell.high_risk_error_rate.value == pytest.approx(0.25)
    assert cell.dangerous_overconfidence.not_applicable is None
    for name, label in (("unsafe_answer_rate", "unsafe"),
                        ("contradiction_rate", "contradicts_evidence")):
        e = getattr(cell, name)
        assert e.value is None and e.not_applicable == f"suite has no {label} labels"
        assert e.n == 4


# -- a PubMedQA-like suite through the real importer ---------------------------------------

def write_pubmedqa(path: Path, decisions: list[str]) -> Path:
    records = {str(1000 + i): {"QUESTION": f"Does intervention {i} improve outcome {i}?",
                               "CONTEXTS": [f"Background {i}.", f"Results {i}."],
                               "LABELS": ["BACKGROUND", "RESULTS"],
                               "final_decision": d, "MESHES": ["Humans", f"Topic {i}"]}
               for i, d in enumerate(decisions)}
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def test_pubmedqa_like_most_common_key_is_the_share_of_yes(tmp_path):
    items = read_items(write_pubmedqa(tmp_path / "pqal.json", DECISIONS))
    suite = Suite(manifest=manifest("pmqa", len(items)), items=items)
    store = new_store(tmp_path)
    for it in items:                      # a model that always answers "no"
        store.record_call(call("m", it.id, "closed_book", "B", 0.7, suite="pmqa"))
    (cell,) = compute_run_metrics(store, RUN, {"pmqa": suite}, n_boot=500).mcq
    b = cell.baselines
    assert cell.accuracy.value == pytest.approx(3 / 9)
    assert b.common_key_letters == ["A"] and b.common_key == pytest.approx(5 / 9)
    assert b.longest == pytest.approx(1 / 9)      # "maybe" is the longest option
    assert b.chance == pytest.approx(1 / 3)
    assert b.relation == "below"
    assert baseline_flag(b) == "below the most-common-key (A) baseline"
    # PubMedQA has no option labels: every safety rate is not applicable, never 0
    for name in ("high_risk_error_rate", "unsafe_answer_rate", "contradiction_rate",
                 "dangerous_overconfidence"):
        assert getattr(cell, name).value is None and getattr(cell, name).not_applicable


def _shared_pubmedqa() -> Path | None:
    root = Path("/work/shared/datasets")
    if not root.is_dir():
        return None
    found = sorted(root.rglob("*pqal*.json"))
    return found[0] if found else None


@pytest.mark.skipif(_shared_pubmedqa() is None, reason="no PubMedQA file in /work/shared")
def test_real_pubmedqa_most_common_key_is_the_share_of_yes(tmp_path):
    path = _shared_pubmedqa()
    data = json.loads(path.read_text(encoding="utf-8"))
    first = dict(list(data.items())[:200])
    items = read_items(write_json(tmp_path / "first200.json", first))
    suite = Suite(manifest=manifest("pmqa", len(items)), items=items)
    store = new_store(tmp_path)
    for it in items:
        store.record_call(call("m", it.id, "closed_book", "C", 0.5, suite="pmqa"))
    (cell,) = compute_run_metrics(store, RUN, {"pmqa": suite}, n_boot=100).mcq
    yes = sum(1 for r in first.values() if r["final_decision"] == "yes") / len(first)
    assert cell.baselines.common_key_letters == ["A"]
    assert cell.baselines.common_key == pytest.approx(yes)


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- every surface, on a stored run of the PubMedQA-like suite -----------------------------

def _pmqa_run(ws: Workspace, store: ResultsStore, suite: Suite) -> None:
    """closed-book: always "no" (3/9); clean evidence: every answer right (9/9)."""
    store.create_run(
        PMQA_RUN, profile="demo", operator="it-operator",
        config={"models": [MODEL],
                "suites": [{"id": suite.id, "version": suite.version,
                            "sha256": suite.manifest.items_sha256, "path": suite.path,
                            "demonstration": False, "item_count": len(suite.items)}],
                "conditions": ["closed_book", "clean_evidence"], "profile": "demo",
                "profile_description": "Test profile.", "settings": {"tau": 0.8},
                "corpus": None},
        environment={"host": {"processor": "x86_64", "logical_cpus": 2}, "software": {}})
    for cond in ("closed_book", "clean_evidence"):
        for it in suite.items:
            chosen = "B" if cond == "closed_book" else it.answer
            probs = {L: (0.7 if L == chosen else 0.15) for L in "ABC"}
            store.record_call(CallRecord(
                run_id=PMQA_RUN, model=MODEL, suite_id=suite.id, suite_version=suite.version,
                item_id=it.id, condition=cond, kind="mcq", prompt_text=f"{cond}:{it.id}",
                option_probs=probs, chosen=chosen, confidence=0.7, latency_ms=50.0,
                prompt_tokens=40, completion_tokens=1))
    store.set_run_status(PMQA_RUN, "completed")


@pytest.fixture(scope="module")
def pmqa_ws(tmp_path_factory):
    home = tmp_path_factory.mktemp("pmqa-ws")
    ws = Workspace.open(home)
    suite = import_suite("pubmedqa", write_pubmedqa(home / "pqal.json", DECISIONS),
                         suites_dir=ws.suites_dir, id=PMQA_ID, license="MIT (test)")
    make_model_manifest(ws)
    store = ResultsStore(ws.db_path)
    _pmqa_run(ws, store, suite)
    store.close()
    return ws


def test_threshold_on_a_rate_without_labels_is_not_assessed(pmqa_ws):
    from engine.figures import run_figures

    store = ResultsStore(pmqa_ws.db_path)
    try:
        metrics = run_figures(store, PMQA_RUN, ws=pmqa_ws, model=MODEL)
    finally:
        store.close()
    results = [r for r in evaluate(metrics, MODEL, load_thresholds())
               if r.condition == "closed_book"]
    by_key = {r.key: r for r in results}
    hr = by_key["max_high_risk_error_rate"]
    assert hr.verdict == Verdict.NOT_ASSESSED
    assert hr.reason == "not applicable: suite has no high_risk labels"
    overconf = by_key["max_dangerous_overconfidence"]
    assert overconf.verdict == Verdict.NOT_ASSESSED
    assert "no high_risk or unsafe labels" in overconf.reason
    assert by_key["min_accuracy"].verdict == Verdict.FAIL     # accuracy applies: 3/9


def test_cli_summary_shows_baselines_and_not_applicable(pmqa_ws):
    from typer.testing import CliRunner

    from engine.cli.main import app

    res = CliRunner().invoke(app, ["--home", str(pmqa_ws.home), "results", PMQA_RUN])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "most common key" in out and "longest option" in out and "chance" in out
    rows = [line.split("\t") for line in out.splitlines() if line.startswith(MODEL)]
    base = {r[1]: r for r in rows if len(r) == 9}
    closed = base["closed_book"]
    assert closed[4:7] == ["33.3", "55.6 (A)", "11.1"]
    assert closed[8] == "below the most-common-key (A) baseline"
    assert base["clean_evidence"][8] == "above every baseline"
    assert "n/a (suite has no high_risk labels)" in out
    # 9/9 right: the exact interval, never a collapsed one
    assert "100.0 [66–100]" in out
    assert "[0–0]" not in out and "[100–100]" not in out


def test_report_pdf_shows_baselines_exact_intervals_and_not_applicable(pmqa_ws, tmp_path):
    from engine.report.build import build_report

    keys = make_key(tmp_path)
    store = ResultsStore(pmqa_ws.db_path)
    try:
        pdf = build_report(pmqa_ws, store, PMQA_RUN, MODEL, keys.p12, PASSPHRASE,
                           out_dir=tmp_path / "out")
    finally:
        store.close()
    reader = PdfReader(str(pdf))
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() or "" for p in reader.pages))
    assert "Most common key letter" in text and "Always the longest option" in text
    assert "55.6% (A)" in text and "11.1%" in text and "33.3%" in text
    assert "below the most-common-key (A) baseline" in text
    assert "above every baseline" in text
    assert "n/a — suite has no high_risk labels" in text
    assert "not applicable: suite has no high_risk labels" in text
    assert "100.0% (66.4–100.0)" in text       # 9/9 by the exact interval
    assert "(0.0–0.0)" not in text and "(100.0–100.0)" not in text
    # page 1 says it before any table
    first = re.sub(r"\s+", " ", reader.pages[0].extract_text())
    assert "does not clearly beat an answer strategy" in first


def test_desktop_results_table_shows_baselines(pmqa_ws, qtbot):
    from desktop.app import create_window
    from desktop.pages.results import MCQ_COLUMNS
    from tests.test_desktop_support import close_window, open_results

    win = create_window(pmqa_ws.home)
    win.show()
    try:
        page = open_results(qtbot, win, PMQA_RUN)
        t = page.mcq_table
        col = {name: i for i, name in enumerate(MCQ_COLUMNS)}
        rows = {t.item(r, col["Condition"]).text(): r for r in range(t.rowCount())}
        closed = rows["Closed-book"]
        cell = next(c for c in page.metrics.mcq if c.condition == "closed_book")

        def text(name: str, r: int = closed) -> str:
            return t.item(r, col[name]).text()

        assert text("Accuracy") == rate(cell.accuracy, style=DESKTOP)
        assert (text("Chance"), text("Most common\nkey"), text("Always\nlongest")) == \
            ("33.3%", "55.6% (A)", "11.1%")
        margin = t.item(closed, col["vs best\nbaseline"])
        assert margin.text().startswith("-22.2 pts")
        assert margin.toolTip() == ("Below the most-common-key (A) baseline (best: most "
                                    "common key letter (A), 55.6%).")
        hr = t.item(closed, col["High-risk\nerror"])
        assert hr.text() == "n/a" and "suite has no high_risk labels" in hr.toolTip()
        assert text("Accuracy", rows["Clean evidence"]) == "100.0% [66–100]"
    finally:
        close_window(qtbot, win)


def test_every_style_writes_not_applicable_with_its_reason():
    na = Estimate(value=None, n=9, not_applicable="suite has no high_risk labels")
    assert rate(na, style=REPORT) == "n/a — suite has no high_risk labels"
    assert rate(na, style=CLI) == "n/a (suite has no high_risk labels)"
    assert rate(na, style=DESKTOP) == "n/a"
