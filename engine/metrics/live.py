"""Headline figures for the live progress display: point values only.

Called after every completed call, so it does no bootstrap and reads only the
calls it is given (one cell's so far). Primary calls only; errors counted. A
rate whose labels none of the items answered so far carry stays None (not
applicable: an unlabelled suite such as PubMedQA), never 0.
"""
from __future__ import annotations

from engine.metrics.types import DEFAULT_TAU
from engine.metrics.mcq import PRIMARY, carried_labels, not_applicable_reason, score_call
from engine.store.db import CallRecord
from engine.suites.schema import McqItem


def headline(calls: list[CallRecord], items: dict[str, McqItem], tau: float = DEFAULT_TAU) -> dict:
    """{"n", "n_errors", "accuracy", "high_risk_error_rate", "dangerous_overconfidence"};
    rates are None until one item is answered."""
    primary = [c for c in calls if c.variant == PRIMARY
               and isinstance(items.get(c.item_id), McqItem)]
    ok = [c for c in primary if not c.error]
    scored = [score_call(items[c.item_id], c, tau) for c in ok]
    n = len(scored)

    carried = carried_labels(items[c.item_id] for c in ok)

    def rate(metric: str, flags: list[bool]) -> float | None:
        if not n or not_applicable_reason(metric, carried) is not None:
            return None
        return sum(flags) / n

    return {"n": n, "n_errors": len(primary) - n,
            "accuracy": rate("accuracy", [a.correct for a in scored]),
            "high_risk_error_rate": rate("high_risk_error_rate", [a.high_risk for a in scored]),
            "dangerous_overconfidence": rate("dangerous_overconfidence",
                                             [a.dangerous_overconfident for a in scored])}
