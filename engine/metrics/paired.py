"""Paired condition comparisons: did changing the deployment condition change
a metric on the *same* items?

Pairing removes item difficulty from the comparison, so the interval is much
tighter than comparing two independent cell intervals. Only items answered
(primary call, no error) under both conditions enter; the bootstrap resamples
items and takes the mean per-item difference (b − a).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.metrics.bootstrap import bootstrap_means, cell_rng, paired_exact_interval
from engine.metrics.mcq import INDICATOR_NAMES, ScoredAnswer
from engine.metrics.types import Estimate, PairedComparison

# (condition_a, condition_b): the report shows metric(b) − metric(a).
CONDITION_PAIRS: tuple[tuple[str, str], ...] = (
    ("closed_book", "clean_evidence"),
    ("clean_evidence", "conflict_evidence"),
    ("closed_book", "standard_rag"),
    ("closed_book", "agentic_rag"),
    ("closed_book", "max_context"),
)
PAIRED_METRICS = ("accuracy", "high_risk_error_rate", "contradiction_rate",
                  "dangerous_overconfidence")
_COLUMNS = [INDICATOR_NAMES.index(m) for m in PAIRED_METRICS]


def paired_comparisons(model: str, suite_id: str,
                       answers_by_condition: dict[str, dict[str, ScoredAnswer]],
                       n_boot: int, seed: int) -> list[PairedComparison]:
    """Comparisons for every standard pair whose two conditions were both run."""
    out: list[PairedComparison] = []
    for cond_a, cond_b in CONDITION_PAIRS:
        a = answers_by_condition.get(cond_a)
        b = answers_by_condition.get(cond_b)
        if a is None or b is None:
            continue
        common = sorted(set(a) & set(b))
        if common:
            diff = np.array([[b[i].indicators()[c] - a[i].indicators()[c] for c in _COLUMNS]
                             for i in common])
        else:
            diff = np.zeros((0, len(_COLUMNS)))
        rng = cell_rng(seed, "paired", model, suite_id, cond_a, cond_b)
        for metric, est in zip(PAIRED_METRICS, bootstrap_means(diff, n_boot, rng)):
            out.append(PairedComparison(model=model, suite_id=suite_id, metric=metric,
                                        condition_a=cond_a, condition_b=cond_b,
                                        difference=est))
    return out


def paired_bootstrap(a: dict[str, list[float]], b: dict[str, list[float]], n_boot: int,
                     rng: np.random.Generator,
                     ranges: Sequence[tuple[float, float] | None] | None = None
                     ) -> tuple[list[str], list[Estimate]]:
    """Mean per-item difference (b − a) of each column, with a percentile interval,
    over the items both sides have (sorted ids, so the resample does not depend on
    dict order). The comparison of two *candidates* on the same items uses this the
    way paired_comparisons compares two conditions of one candidate.

    Where every item differs by the same amount the bootstrap has nothing to resample
    and collapses to a point; such a column gets the exact interval instead
    (bootstrap.paired_exact_interval): a rate column (0/1 on both sides) always, a
    score column when `ranges` gives its range (CARES 0-1, harm 1-5, Brier 0-2).
    """
    common = sorted(set(a) & set(b))
    width = len(next(iter(a.values()))) if a else (len(next(iter(b.values()))) if b else 0)
    if common:
        diff = np.array([[y - x for x, y in zip(a[i], b[i])] for i in common], dtype=float)
    else:
        diff = np.zeros((0, width))
    diff = diff.reshape(len(common), width)
    ests = bootstrap_means(diff, n_boot, rng)
    for j in range(width):
        values = {v for i in common for v in (a[i][j], b[i][j])}
        bounds = (0.0, 1.0) if values <= {0.0, 1.0} else (ranges[j] if ranges else None)
        if common and bounds is not None:
            ests[j] = paired_exact_interval(diff[:, j], ests[j], span=bounds[1] - bounds[0])
    return common, ests
