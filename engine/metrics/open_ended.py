"""Open-ended metrics (placeholder until the judges land)."""
from __future__ import annotations


def open_metrics(calls, judgments, suites, n_boot, seed):
    return []
