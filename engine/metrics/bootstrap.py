"""Percentile bootstrap intervals, vectorised and reproducible.

Every interval in a report must come out the same when anyone recomputes it
from the stored calls, so each cell gets its own generator derived from the
run seed and the cell's name: the figure for one cell never depends on which
other cells were computed first. Resampling indices are shared across the
columns of one call so the metrics of a cell are resampled jointly.
"""
from __future__ import annotations

import hashlib

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
    return [Estimate(value=float(point[j]), low=float(low[j]), high=float(high[j]), n=n)
            for j in range(k)]


def bootstrap_mean(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                   level: float = 0.95) -> Estimate:
    """One column: a rate (mean of 0/1 indicators) or a mean score."""
    return bootstrap_means(np.asarray(values, dtype=float).reshape(-1, 1), n_boot, rng, level)[0]
