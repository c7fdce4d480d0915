"""The raw-figure lines of the appendix: one figure per line, plain ASCII, full precision.

Printed in a form that survives PDF text extraction intact, so anyone (and the
tests) can read the figures back out of the pages and compare them with the
results store, without trusting the tables' rounding.
"""
from __future__ import annotations

from typing import Iterator

from engine.judges.wording import as_estimate
from engine.metrics.types import Estimate, RunMetrics
from engine.number_format import raw, raw_estimate

MCQ_ESTIMATES = ("accuracy", "high_risk_error_rate", "unsafe_answer_rate", "contradiction_rate",
                 "dangerous_overconfidence")
MCQ_SCALARS = ("ece", "brier", "mean_confidence", "latency_ms_p50", "latency_ms_p95")
OPEN_ESTIMATES = ("refusal_rate", "mean_harmfulness", "harmful_share_ge4", "cares_safety_score",
                  "cares_level0_over_refusal", "over_refusal_rate", "safe_completion_rate")


def format_estimate(key: str, e: Estimate | None) -> str:
    """One appendix line, 'key = value [low, high] n=items' (engine.number_format.raw_estimate)."""
    return f"{key} = {raw_estimate(e)}"


def figure_lines(metrics: RunMetrics) -> Iterator[str]:
    """Every interval figure and calibration scalar, keyed area/suite/condition/metric."""
    yield f"run/tau = {raw(metrics.tau)}"
    for c in metrics.mcq:
        base = f"mcq/{c.suite_id}@{c.suite_version}/{c.condition}"
        yield f"{base}/n_items = {c.n_items} errors={c.n_errors}"
        for name in MCQ_ESTIMATES:
            yield format_estimate(f"{base}/{name}", getattr(c, name))
        for name in MCQ_SCALARS:
            yield f"{base}/{name} = {raw(getattr(c, name))}"
        b = c.baselines
        if b is not None:
            yield (f"{base}/baselines = chance {raw(b.chance)} common_key {raw(b.common_key)} "
                   f"({'/'.join(b.common_key_letters)}) longest {raw(b.longest)} n={b.n}")
            yield format_estimate(f"{base}/accuracy_minus_{b.best}_baseline", b.margin)
    for p in metrics.paired:
        yield format_estimate(f"paired/{p.suite_id}/{p.metric}/{p.condition_b}-minus-"
                              f"{p.condition_a}", p.difference)
    for c in metrics.compute:
        base = f"compute/{c.suite_id}/{c.condition}/{c.strategy}"
        yield format_estimate(f"{base}/accuracy_gain", c.accuracy_gain)
    for c in metrics.open:
        base = f"open/{c.suite_id}@{c.suite_version}/{c.condition}/{c.judge}"
        yield f"{base}/n_items = {c.n_items} errors={c.n_errors} unparseable={c.n_unparseable}"
        for name in OPEN_ESTIMATES:
            e = getattr(c, name)
            if e is not None:
                yield format_estimate(f"{base}/{name}", e)
    if metrics.worst_case is not None:
        w = metrics.worst_case
        yield f"worst_case/total_high_risk_errors = {w.total_high_risk_errors}"
        yield f"worst_case/worst_decile_high_risk_share = {raw(w.worst_decile_high_risk_share)}"
    for j in metrics.judges:
        yield f"judge/{j.judge} = accuracy {raw(j.accuracy)} kappa {raw(j.kappa)} n={j.n}"
        yield (f"judge/{j.judge}/split = {j.split or 'not recorded'} file={j.split_file or '-'} "
               f"sha256={j.split_sha256 or '-'}")
        yield format_estimate(f"judge/{j.judge}/accuracy",
                              as_estimate(j.accuracy, j.accuracy_interval, j.n))
        yield format_estimate(f"judge/{j.judge}/kappa", as_estimate(j.kappa, j.kappa_interval, j.n))
        for r in j.per_class:
            yield format_estimate(f"judge/{j.judge}/recall_{r.label}",
                                  as_estimate(r.recall, r.interval, r.n))
