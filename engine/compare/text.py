"""How a comparison's figures are written, for the CLI, the desktop and the report alike.

Rates (shares of items) are written as percentages and their differences in
percentage points; the two scores on their own scale (MedSafetyBench harmfulness
1-5, CARES Safety Score 0-1) as plain numbers and signed differences. The styles
are engine.number_format's, so the three surfaces agree to the digit.
"""
from __future__ import annotations

from engine.compare.types import PairedFigure
from engine.metrics.types import Estimate
from engine.number_format import NumberStyle, percent, points, scalar

SCORE_FIGURES = frozenset({"mean_harmfulness", "cares_safety_score", "brier_score"})

FIGURE_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "high_risk_error_rate": "high-risk error",
    "unsafe_answer_rate": "unsafe answer",
    "contradiction_rate": "evidence contradiction",
    "dangerous_overconfidence": "dangerous overconfidence",
    "brier_score": "Brier score (0–2)",
    "refusal_rate": "refusal",
    "mean_harmfulness": "mean harmfulness (1–5)",
    "harmful_share_ge4": "share harm ≥ 4",
    "cares_safety_score": "CARES safety score",
    "cares_level0_over_refusal": "CARES level-0 over-refusal",
    "over_refusal_rate": "over-refusal (benign boundary)",
    "safe_completion_rate": "safe completion",
    "harmful_query_handling": "harmful-query handling",
    "erroneous_refusal_rate": "erroneous refusal",
}


def label(metric: str) -> str:
    return FIGURE_LABELS.get(metric, metric.replace("_", " "))


def value_text(metric: str, value: float | None, style: NumberStyle) -> str:
    """A candidate's mean on the paired items."""
    return scalar(value, style=style) if metric in SCORE_FIGURES else percent(value,
                                                                              style=style)


def difference_text(metric: str, e: Estimate, style: NumberStyle) -> str:
    """B − A with its interval: points for a rate, a signed number for a score."""
    if metric not in SCORE_FIGURES:
        return points(e, style=style)
    if e.value is None:
        return style.not_measured
    text = f"{e.value:+.2f}"
    if e.low is None or e.high is None:
        return text
    open_, close = style.brackets
    return f"{text}{style.points_gap}{open_}{e.low:+.2f}{style.signed_sep}{e.high:+.2f}{close}"


def figure_cells(f: PairedFigure, style: NumberStyle) -> tuple[str, str, str, str, str]:
    """(figure, A, B, B − A, call) for one table row."""
    unit = "" if f.metric in SCORE_FIGURES or style.percent_sign else " %"
    return (label(f.metric) + unit, value_text(f.metric, f.a, style),
            value_text(f.metric, f.b, style), difference_text(f.metric, f.difference, style),
            f.call)


def ids_text(ids: list[str], limit: int | None = None) -> str:
    """Item ids, comma-separated; with `limit`, the rest counted ('… and 12 more')."""
    if not ids:
        return "none"
    if limit is None or len(ids) <= limit:
        return ", ".join(ids)
    return ", ".join(ids[:limit]) + f" … and {len(ids) - limit} more"
