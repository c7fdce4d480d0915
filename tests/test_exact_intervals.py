"""Exact intervals where the bootstrap collapses (issue 18 part 7): a rate of 0/n or n/n
carries the Clopper-Pearson interval the verdict uses, says so, and every surface's
number style prints it; rates in between keep their bootstrap interval unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from engine.metrics.bootstrap import (bootstrap_means, clopper_pearson_edge, items_to_show,
                                      paired_exact_interval, rate_means)
from engine.metrics.compute import compute_run_metrics
from engine.metrics.live import headline
from engine.metrics.open_ended import Verdict as OpenVerdict, cell_open_metrics
from engine.metrics.types import Estimate
from engine.number_format import CLI, DESKTOP, REPORT, interval_note, rate, raw_estimate
from engine.report.thresholds import exact_bound, judge
from engine.suites.schema import McqItem, OpenItem, Suite
from tests.test_metrics_data import RUN, call, manifest, mcq_suite, new_store

# Clopper-Pearson 95% by hand: for 0/n the upper bound solves (1 − p)^n = 0.025 (solved by
# bisection in exact fractions, not with the formula under test); n/n mirrors it.
HAND = {(0, 10): (0.0, 0.30849710781876083), (10, 10): (0.69150289218123917, 1.0),
        (0, 1): (0.0, 0.975), (0, 30): (0.0, 0.11570330822202782)}


def _scipy_cp(k: int, n: int) -> tuple[float, float] | None:
    try:
        from scipy.stats import beta
    except ImportError:
        return None
    low = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return low, high


@pytest.mark.parametrize("k,n", sorted(HAND))
def test_edge_interval_is_clopper_pearson(k, n):
    got = clopper_pearson_edge(k, n)
    want = _scipy_cp(k, n) or HAND[(k, n)]
    assert got == pytest.approx(want, abs=1e-9)
    assert got == pytest.approx(HAND[(k, n)], abs=1e-9)


def test_only_the_edges_have_a_closed_form_here_and_the_verdict_uses_the_same():
    assert clopper_pearson_edge(3, 10) is None and clopper_pearson_edge(0, 0) is None
    assert exact_bound("max", 0.0, 10) == pytest.approx(0.3085, abs=1e-4)
    assert exact_bound("min", 1.0, 10) == pytest.approx(1 - 0.3085, abs=1e-4)
    assert exact_bound("min", 0.0, 10) == 0.0 and exact_bound("max", 1.0, 10) == 1.0
    assert exact_bound("max", 0.5, 10) is None


def test_rate_means_replaces_only_collapsed_columns():
    values = np.column_stack([np.zeros(10), np.ones(10), np.arange(10) % 3 == 0])
    plain = bootstrap_means(values, 400, np.random.default_rng(5))
    rates = rate_means(values, 400, np.random.default_rng(5))
    zero, one, mixed = rates
    assert (zero.low, zero.high, zero.method) == (0.0, pytest.approx(0.3085, abs=1e-4),
                                                   "clopper_pearson")
    assert (one.low, one.high) == (pytest.approx(0.6915, abs=1e-4), 1.0)
    assert mixed == plain[2] and mixed.method == "bootstrap"      # the very same draws
    assert plain[0].low == plain[0].high == 0.0                    # what it replaced


def test_cell_rates_at_the_edges_are_exact_and_the_verdict_reads_them(tmp_path):
    store = new_store(tmp_path)
    suite = mcq_suite()
    for it in suite.items:             # every answer right: accuracy 4/4, every error 0/4
        store.record_call(call("m", it.id, "clean_evidence", it.answer, 0.9))
    (cell,) = compute_run_metrics(store, RUN, {"rad": suite}, n_boot=300).mcq
    high = 1 - 0.025 ** 0.25                         # Clopper-Pearson upper bound of 0/4
    for name in ("high_risk_error_rate", "unsafe_answer_rate", "contradiction_rate",
                 "dangerous_overconfidence"):
        e = getattr(cell, name)
        assert (e.value, e.low, e.method) == (0.0, 0.0, "clopper_pearson")
        assert e.high == pytest.approx(high)
    acc = cell.accuracy
    assert acc.value == 1.0 and acc.high == 1.0 and acc.low == pytest.approx(0.025 ** 0.25)
    verdict, bound, reason = judge("max", 0.05, cell.high_risk_error_rate, proportion=True)
    assert bound == cell.high_risk_error_rate.high and reason.startswith("exact upper bound")
    verdict, bound, reason = judge("min", 0.6, acc, proportion=True)
    assert bound == acc.low and reason.startswith("exact lower bound")
    assert interval_note(acc).startswith("exact 95% Clopper-Pearson")


def test_every_surface_prints_the_exact_interval_never_a_point():
    zero = Estimate(value=0.0, low=0.0, high=HAND[(0, 10)][1], n=10, method="clopper_pearson")
    one = Estimate(value=1.0, low=HAND[(10, 10)][0], high=1.0, n=10, method="clopper_pearson")
    assert rate(zero, style=CLI) == "0.0 [0–31]"
    assert rate(zero, style=DESKTOP) == "0.0% [0–31]"
    assert rate(zero, style=REPORT) == "0.0% (0.0–30.8)"
    assert rate(one, style=REPORT) == "100.0% (69.2–100.0)"
    assert raw_estimate(zero) == "0.000000 [0.000000, 0.308497] n=10 exact"


def test_open_ended_rates_and_scores_at_the_edges_are_exact():
    items = [OpenItem(id=f"o{i}", prompt="p", expected="refuse") for i in range(8)]
    verdicts = [OpenVerdict(it, "refuse", 1.0, None) for it in items]   # all refused, harm 1
    m = cell_open_metrics("m", "s", "1.0.0", "closed_book", "rules", verdicts, n_items=8,
                          n_errors=0, n_unjudged=0, n_unparseable=0, n_overridden=0,
                          n_boot=300, seed=0)
    assert m.refusal_rate.value == 1.0 and m.refusal_rate.method == "clopper_pearson"
    assert m.refusal_rate.low == pytest.approx(0.025 ** (1 / 8))
    assert m.harmful_share_ge4.value == 0.0 and m.harmful_share_ge4.high == \
        pytest.approx(1 - 0.025 ** (1 / 8))
    # every harm score at the floor (1 of 1-5): the 0/n bound, rescaled to the 1-5 range
    assert (m.mean_harmfulness.value, m.mean_harmfulness.low) == (1.0, 1.0)
    assert m.mean_harmfulness.method == "clopper_pearson"
    assert m.mean_harmfulness.high == pytest.approx(1 + 4 * (1 - 0.025 ** (1 / 8)))


def test_a_score_between_the_bounds_keeps_the_bootstrap_and_a_top_score_is_exact():
    from engine.metrics.bootstrap import bounded_mean, cell_rng
    spread = bounded_mean(np.array([1.0, 3.0, 2.0, 5.0]), 1.0, 5.0, 300, cell_rng(0, "t"))
    assert spread.method == "bootstrap" and spread.low < spread.value < spread.high
    top = bounded_mean(np.ones(20), 0.0, 1.0, 300, cell_rng(0, "t"))
    assert top.method == "clopper_pearson" and top.high == 1.0
    assert top.low == pytest.approx(0.025 ** (1 / 20))      # 0.832: above the 0.80 limit


def test_paired_difference_where_every_item_agrees_is_exact(tmp_path):
    store = new_store(tmp_path)
    suite = mcq_suite()
    for cond in ("closed_book", "clean_evidence"):     # the same answers under both
        for it in suite.items:
            store.record_call(call("m", it.id, cond, "B", 0.9))
    metrics = compute_run_metrics(store, RUN, {"rad": suite}, n_boot=300)
    diffs = {p.metric: p.difference for p in metrics.paired}
    u = 1 - 0.025 ** 0.25
    for e in diffs.values():
        assert (e.value, e.method) == (0.0, "clopper_pearson")
        assert (e.low, e.high) == (pytest.approx(-u), pytest.approx(u))


def test_paired_exact_interval_when_every_item_moved_one_way():
    est = Estimate(value=1.0, low=1.0, high=1.0, n=10, method="bootstrap")
    up = paired_exact_interval(np.ones(10), est)
    assert up.low == pytest.approx(2 * 0.025 ** 0.1 - 1) and up.high == 1.0
    down = paired_exact_interval(-np.ones(10), est.model_copy(update={"value": -1.0}))
    assert down.low == -1.0 and down.high == pytest.approx(1 - 2 * 0.025 ** 0.1)
    mixed = Estimate(value=0.1, low=-0.1, high=0.3, n=10, method="bootstrap")
    assert paired_exact_interval(np.array([1.0] + [0.0] * 9), mixed) is mixed


def test_paired_and_live_figures_of_an_unlabelled_suite_are_not_applicable(tmp_path):
    items = [McqItem(id=f"p{i}", question="?", options={"A": "yes", "B": "no", "C": "maybe"},
                     answer="A") for i in range(4)]
    suite = Suite(manifest=manifest("pm", 4), items=items)
    store = new_store(tmp_path)
    calls = [call("m", it.id, cond, "A" if i % 2 else "B", 0.9, suite="pm")
             for cond in ("closed_book", "clean_evidence") for i, it in enumerate(items)]
    for c in calls:
        store.record_call(c)
    metrics = compute_run_metrics(store, RUN, {"pm": suite}, n_boot=200)
    diffs = {p.metric: p.difference for p in metrics.paired}
    assert diffs["high_risk_error_rate"].not_applicable == "suite has no high_risk labels"
    assert diffs["accuracy"].value == 0.0 and diffs["accuracy"].not_applicable is None
    live = headline(calls[:4], {it.id: it for it in items})
    assert live["accuracy"] == 0.5 and live["high_risk_error_rate"] is None
    assert live["dangerous_overconfidence"] is None


def test_a_limit_no_result_on_the_suite_can_pass_says_how_many_items_it_needs():
    """0/84 errors fails a 2% limit (exact upper bound 4.3%); the line must say the suite,
    not the model, is what cannot show it, and the count that could."""
    assert items_to_show("max", 0.02) == 183
    assert clopper_pearson_edge(0, 183)[1] <= 0.02 < clopper_pearson_edge(0, 182)[1]
    assert items_to_show("min", 0.80) == 17
    assert clopper_pearson_edge(17, 17)[0] >= 0.80 > clopper_pearson_edge(16, 16)[0]
    perfect = Estimate(value=0.0, low=0.0, high=0.0, n=84)
    verdict, bound, reason = judge("max", 0.02, perfect, proportion=True)
    assert verdict.value == "FAIL" and bound == pytest.approx(0.0430, abs=1e-4)
    assert "no result on 84 items can pass" in reason and "at least 183 items" in reason
    # A suite big enough to show the limit: a FAIL there is the model's, said plainly.
    _, _, reason = judge("max", 0.02, Estimate(value=0.05, low=0.03, high=0.08, n=300), True)
    assert reason == "upper bound > limit"
    # So is a rate clearly beyond the limit on a small suite: its whole interval is above.
    _, _, reason = judge("max", 0.02, Estimate(value=0.31, low=0.21, high=0.40, n=84), True)
    assert reason == "upper bound > limit"
    assert items_to_show("max", 0.0) is None


def test_figures_do_not_depend_on_the_order_calls_were_stored(tmp_path):
    """A Ray run, a resumed run or a retried package stores the same calls in another
    order: figures are computed in key order, so they come out identical; the store's own
    order (how reports signed before the choice was recorded were computed) still can."""
    suite = mcq_suite()
    letters = "ABCD"
    calls = []
    for k in range(12):
        item = suite.items[k % 4]
        chosen = letters[(k * 7) % 3]
        probs = {x: (0.55 if x == chosen else 0.15) for x in item.options}
        calls.append(call(f"m{k // 4}", item.id, "closed_book", chosen, 0.55, probs))
    stores = []
    for name, ordered in (("forward", calls), ("backward", calls[::-1])):
        store = new_store(tmp_path / name)
        for c in ordered:
            store.record_call(c)
        stores.append(store)
    dumps = [compute_run_metrics(s, RUN, {"rad": suite}, n_boot=300).model_dump_json()
             for s in stores]
    assert dumps[0] == dumps[1]
    stored = [compute_run_metrics(s, RUN, {"rad": suite}, n_boot=300,
                                  call_order="stored").model_dump_json() for s in stores]
    assert stored[0] == dumps[0]      # stored in key order already: the same figures


def test_every_report_manifest_records_the_call_order_its_figures_used():
    """New reports say "key"; verify reads a manifest without the field as "stored"."""
    from engine.figures import MetricParams

    assert MetricParams().call_order == "key"
    assert MetricParams().as_dict()["call_order"] == "key"


def test_a_score_at_one_value_inside_its_range_is_exact_not_a_point():
    from engine.metrics.bootstrap import bounded_mean, cell_rng
    # Twelve harm scores of 2 (1-5): at most a share u = 1 - 0.025^(1/12) of scores may
    # be elsewhere, at most 1 below or 3 above, so the mean lies in [2 - u, 2 + 3u].
    est = bounded_mean(np.full(12, 2.0), 1.0, 5.0, 300, cell_rng(0, "t"))
    u = 1 - 0.025 ** (1 / 12)
    assert (est.value, est.method) == (2.0, "clopper_pearson")
    assert (est.low, est.high) == (pytest.approx(2 - u), pytest.approx(2 + 3 * u))


def test_a_paired_score_difference_where_every_item_moved_alike_is_exact():
    n, u = 10, 1 - 0.025 ** 0.1
    point = Estimate(value=0.0, low=0.0, high=0.0, n=n, method="bootstrap")
    # The same harm score on both sides of every item (1-5, span 4): within ±4u.
    same = paired_exact_interval(np.zeros(n), point, span=4.0)
    assert (same.low, same.high) == (pytest.approx(-4 * u), pytest.approx(4 * u))
    # Every CARES score up by 0.5 (span 1): at most a share u moved otherwise, by at most
    # 1.5 down or 0.5 up.
    half = paired_exact_interval(np.full(n, 0.5), point.model_copy(update={"value": 0.5}))
    assert (half.low, half.high) == (pytest.approx(0.5 - 1.5 * u), pytest.approx(0.5 + 0.5 * u))
    # A rate keeps the interval signed reports recorded, bit for bit.
    up = paired_exact_interval(np.ones(n), point.model_copy(update={"value": 1.0}))
    assert (up.low, up.high) == (2 * 0.025 ** 0.1 - 1, 1.0)


def test_kappa_where_every_example_agrees_has_a_lower_bound_not_a_point():
    from engine.judges.validation import kappa_interval
    truth = ["refuse"] * 30 + ["comply"] * 50 + ["caution"] * 20
    ci = kappa_interval(truth, list(truth))
    # p_e = 0.3^2 + 0.5^2 + 0.2^2 = 0.38; lowest agreement 0.025^(1/100)
    low = (0.025 ** 0.01 - 0.38) / (1 - 0.38)
    assert ci is not None and ci.high == 1.0 and ci.low == pytest.approx(low)
    assert ci.low < 1.0
    assert kappa_interval(["refuse"] * 5, ["refuse"] * 5) is None   # one class: no κ interval


def test_verify_accepts_a_point_a_report_printed_that_is_now_an_exact_interval():
    """A report signed before a collapse got its exact interval still verifies (the values
    match; the note says so), but any other change to a figure is still a mismatch."""
    from engine.report.verify import _diff

    point = {"value": 0.0, "low": 0.0, "high": 0.0, "n": 40, "method": "bootstrap",
             "not_applicable": None}
    exact = {**point, "low": -0.09, "high": 0.09, "method": "clopper_pearson"}
    widened: list[str] = []
    assert _diff({"cares": point}, {"cares": exact}, widened=widened) == []
    assert widened == ["cares"]
    for changed in ({**exact, "value": 0.1}, {**exact, "n": 39},
                    {**exact, "method": "bootstrap"}):
        assert _diff({"cares": point}, {"cares": changed}, widened=[]) != []
    spread = {**point, "low": -0.1, "high": 0.2}          # a real interval must match exactly
    assert _diff({"cares": spread}, {"cares": exact}, widened=[]) != []
