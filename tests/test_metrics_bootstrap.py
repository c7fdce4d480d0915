"""Bootstrap intervals: coverage on a known case, reproducibility, edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from engine.metrics.bootstrap import bootstrap_mean, bootstrap_means, cell_rng


def test_interval_covers_true_rate_about_95_percent():
    # Bernoulli(0.3), n = 200, 300 independent data sets: a 95% interval should
    # cover 0.3 in roughly 92-98% of them (binomial sd of the coverage ~1.3 points).
    covered = 0
    for s in range(300):
        data = np.random.default_rng(10_000 + s).random(200) < 0.3
        est = bootstrap_mean(data, 2000, np.random.default_rng(s))
        covered += est.low <= 0.3 <= est.high
    assert 0.92 <= covered / 300 <= 0.98


def test_interval_width_matches_normal_approximation():
    data = np.array([1] * 60 + [0] * 140)   # p = .3, n = 200: se = sqrt(.21/200) = .0324
    est = bootstrap_mean(data, 4000, np.random.default_rng(0))
    assert est.value == pytest.approx(0.3) and est.n == 200
    assert est.high - est.low == pytest.approx(2 * 1.96 * 0.0324, abs=0.01)


def test_same_seed_same_interval_and_cells_independent():
    data = np.arange(50) % 3 == 0
    a = bootstrap_mean(data, 1000, cell_rng(0, "mcq", "m", "s", "closed_book"))
    b = bootstrap_mean(data, 1000, cell_rng(0, "mcq", "m", "s", "closed_book"))
    c = bootstrap_mean(data, 1000, cell_rng(0, "mcq", "m", "s", "clean_evidence"))
    d = bootstrap_mean(data, 1000, cell_rng(1, "mcq", "m", "s", "closed_book"))
    assert a == b and a.low < a.value < a.high
    # intervals of a discrete mean are quantised, so compare the generators' draws
    draws = [cell_rng(*args).integers(0, 10**9, 4).tolist() for args in
             [(0, "mcq", "m", "s", "closed_book"), (0, "mcq", "m", "s", "clean_evidence"),
              (1, "mcq", "m", "s", "closed_book"), (0, "mcq", "m", "s", "closed_book")]]
    assert draws[0] != draws[1] and draws[0] != draws[2] and draws[0] == draws[3]
    assert c.n == d.n == 50


def test_columns_resampled_jointly_and_edge_cases():
    x = np.array([0, 1, 1, 0, 1, 0, 0, 1.0])
    same, neg = bootstrap_means(np.column_stack([x, -x]), 500, np.random.default_rng(3))
    assert same.low == pytest.approx(-neg.high) and same.high == pytest.approx(-neg.low)
    empty = bootstrap_mean(np.array([]), 100, np.random.default_rng(0))
    assert empty.value is None and empty.n == 0
    const = bootstrap_mean(np.ones(5), 100, np.random.default_rng(0))
    assert const.value == const.low == const.high == 1.0


def test_large_input_is_blocked_not_exploded():
    data = np.random.default_rng(0).random(20_000) < 0.5   # 2000 × 20000 = 40M draws
    est = bootstrap_mean(data, 2000, np.random.default_rng(0))
    assert est.low < est.value < est.high and est.high - est.low < 0.02
