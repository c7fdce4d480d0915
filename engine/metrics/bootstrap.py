"""Percentile bootstrap intervals, vectorised and reproducible.

Every interval in a report must come out the same when anyone recomputes it
from the stored calls, so each cell gets its own generator derived from the
run seed and the cell's name: the figure for one cell never depends on which
other cells were computed first. Resampling indices are shared across the
columns of one call so the metrics of a cell are resampled jointly.

Where every item agrees (a rate of 0/n or n/n) every resample is that same
point, and "0.0 [0–0]" would claim a certainty ten items cannot give. Rates are
therefore computed with `rate_means`, which gives those columns the exact
Clopper-Pearson interval instead (the bound the verdict has always used), and
each Estimate names the method that gave its interval.
"""
from __future__ import annotations

import hashlib
import math
from typing import Iterable

import numpy as np

from engine.metrics.types import Estimate

# Resample in blocks so memory stays bounded (n_boot × n × k float64) for large suites.
_MAX_BLOCK_ELEMENTS = 4_000_000


def cell_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator keyed by the run seed and a cell's names (stable across processes)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *words])


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                    level: float = 0.95) -> list[Estimate]:
    """Mean of each column of `values` (n × k) with a percentile interval.

    NaN entries are not allowed: callers pass only the items a metric is defined on.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n, k = values.shape
    if n == 0:
        return [Estimate(value=None, n=0) for _ in range(k)]
    point = values.mean(axis=0)
    if n_boot <= 0:
        return [Estimate(value=float(point[j]), n=n) for j in range(k)]
    block = max(1, _MAX_BLOCK_ELEMENTS // max(1, n * k))
    means = np.empty((n_boot, k))
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return [Estimate(value=float(point[j]), low=float(low[j]), high=float(high[j]), n=n,
                     method="bootstrap") for j in range(k)]


def clopper_pearson_edge(successes: int, n: int, level: float = 0.95
                         ) -> tuple[float, float] | None:
    """The exact two-sided interval of 0/n or n/n; None for any other count.

    At the edges the Clopper-Pearson bounds have a closed form: for 0/n the
    upper bound solves (1 − p)^n = α/2, so it is 1 − (α/2)^(1/n) (0.3085 for
    n = 10); n/n mirrors it. Nothing else is needed: in between, the bootstrap
    interval is what SafeVet shows.
    """
    if n <= 0 or successes not in (0, n):
        return None
    tail = ((1.0 - level) / 2.0) ** (1.0 / n)
    return (0.0, 1.0 - tail) if successes == 0 else (tail, 1.0)


def items_to_show(kind: str, limit: float, level: float = 0.95) -> int | None:
    """The fewest items on which a perfect result (0/n for a "max" rate limit, n/n for a
    "min" one) has an exact bound inside `limit`; None where no count can (limit 0 or 1).

    A suite smaller than this cannot pass the limit whatever the model does, which a
    committee must be told rather than read as the model's failure: 0/84 high-risk
    errors still has an upper bound of 4.3%, so a 2% limit needs 183 items.
    """
    alpha = (1.0 - level) / 2.0
    gap = limit if kind == "max" else 1.0 - limit
    if not 0.0 < gap < 1.0:
        return None
    return math.ceil(math.log(alpha) / math.log(1.0 - gap) - 1e-9)


def with_exact_edges(indicators: np.ndarray, estimates: list[Estimate],
                     columns: Iterable[int] | None = None, level: float = 0.95
                     ) -> list[Estimate]:
    """`estimates` (one per column of `indicators`) with the exact Clopper-Pearson
    interval wherever a rate column (0/1 values; `columns`, default all) is all 0 or all 1.

    Only the interval changes: the point, the n and every other column stay as the
    bootstrap gave them, so a rate strictly between 0 and 1 keeps its interval.
    """
    values = np.asarray(indicators, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    out = list(estimates)
    for j in (range(len(out)) if columns is None else columns):
        exact = clopper_pearson_edge(int(round(values[:, j].sum())), n, level) if n else None
        if exact is not None:
            out[j] = out[j].model_copy(update={"low": exact[0], "high": exact[1],
                                               "method": "clopper_pearson"})
    return out


def rate_means(indicators: np.ndarray, n_boot: int, rng: np.random.Generator,
               level: float = 0.95) -> list[Estimate]:
    """`bootstrap_means` for columns of 0/1 indicators (rates), exact at 0/n and n/n.

    The bootstrap draws are made exactly as for `bootstrap_means` (the same
    generator, every column jointly), so a rate strictly between 0 and 1 gets
    the very interval it always had; only collapsed columns are replaced.
    """
    values = np.asarray(indicators, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    return with_exact_edges(values, bootstrap_means(values, n_boot, rng, level), level=level)


def paired_exact_interval(differences: np.ndarray, estimate: Estimate, level: float = 0.95,
                          span: float = 1.0) -> Estimate:
    """A paired difference (per item b − a) whose items all differ by the same amount,
    with an exact interval instead of the bootstrap's point; else `estimate`.

    Each side's value lies in a range `span` wide (1 for a rate, 4 for a 1-5 harm
    score), so a per-item difference lies in [−span, span]. Every item differing by
    the same c is 0 of n items differing otherwise; with u the Clopper-Pearson upper
    bound of 0/n, at most a share u of items may differ from c, each by at most
    span − c above it or span + c below it, so the mean difference lies in
    [c − (span + c)·u, c + (span − c)·u]. For a rate (span 1) that is [−u, u] when
    every item agrees, and at least 2ℓ − 1 (ℓ the lower bound of n/n) when every item
    moved up; the formulas below are written that way at ±span so a rate's interval
    stays bit for bit what signed reports recorded.
    """
    d = np.asarray(differences, dtype=float).ravel()
    n = d.size
    if n == 0 or estimate.value is None or not np.all(d == d[0]) or abs(d[0]) > span:
        return estimate
    upper = clopper_pearson_edge(0, n, level)
    lower = clopper_pearson_edge(n, n, level)
    assert upper is not None and lower is not None
    u, c = upper[1], float(d[0])
    if c == 0.0:
        low, high = -span * u, span * u
    elif c == span:
        low, high = span * (2 * lower[0] - 1), span
    elif c == -span:
        low, high = -span, span * (1 - 2 * lower[0])
    else:
        low, high = c - (span + c) * u, c + (span - c) * u
    return estimate.model_copy(update={"low": low, "high": high, "method": "clopper_pearson"})


def rate_mean(indicators: np.ndarray, n_boot: int, rng: np.random.Generator,
              level: float = 0.95) -> Estimate:
    """One rate column (see `rate_means`)."""
    return rate_means(np.asarray(indicators, dtype=float).reshape(-1, 1), n_boot, rng,
                      level)[0]


def bounded_mean(values: np.ndarray, low: float, high: float, n_boot: int,
                 rng: np.random.Generator, level: float = 0.95) -> Estimate:
    """A mean score bounded in [low, high] (harm 1-5, CARES 0-1): the bootstrap interval,
    exact where every score is the same and the bootstrap collapses to a point.

    Every score at the top is the n/n case: a score in [low, high] reaches `high` with
    probability at most its (rescaled) mean m, so n of n at the top has probability at
    most m^n, which gives the Clopper-Pearson lower bound of n/n; the bottom mirrors it.
    Every score at one value c inside the range is 0 of n scores elsewhere: with u the
    upper bound of 0/n, at most a share u of scores differ from c, by at most c − low
    below or high − c above, so the mean lies in [c − (c − low)·u, c + (high − c)·u].
    """
    est = bootstrap_mean(values, n_boot, rng, level)
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    if n == 0 or not np.all(v == v[0]) or not low <= v[0] <= high:
        return est
    c = float(v[0])
    if c in (low, high):
        edge = clopper_pearson_edge(n if c == high else 0, n, level)
        assert edge is not None
        span = high - low
        bounds = (low + span * edge[0], low + span * edge[1])
    else:
        upper = clopper_pearson_edge(0, n, level)
        assert upper is not None
        bounds = (c - (c - low) * upper[1], c + (high - c) * upper[1])
    return est.model_copy(update={"low": bounds[0], "high": bounds[1],
                                  "method": "clopper_pearson"})


def bootstrap_mean(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                   level: float = 0.95) -> Estimate:
    """One column: a rate (mean of 0/1 indicators) or a mean score."""
    return bootstrap_means(np.asarray(values, dtype=float).reshape(-1, 1), n_boot, rng, level)[0]
