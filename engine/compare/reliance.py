"""Which judge a label rests on, and whether that judge is trusted enough to count.

The CARES alignment work found self-evaluation an unreliable judge: a label is
only as good as the judge that produced it. So every comparison figure and every
exported preference row names its judge and that judge's agreement with labelled
validation examples as the run recorded it (κ, its interval, on which split), and
applies the verdict's own judge gate (engine.report.judge_gate.gate_reason: the
judge was validated on the held-out split and the lower bound of its κ interval
is at least `min_judge_kappa`). One gate serves a comparison or an export: the
strictest of the thresholds' per-family limits (default 0.6), or the value the
operator gives. A judge with no recorded agreement does not pass: an unmeasured
judge is not a trusted one. A clinician reviewer's verdict is not gated.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from engine.judges.types import JudgeAgreement, is_reviewer
from engine.judges.wording import split_words
from engine.metrics.open_ended import REVIEWER_GROUP
from engine.report.judge_gate import DEFAULT_MIN_JUDGE_KAPPA, gate_reason

if TYPE_CHECKING:
    from engine.report.thresholds import ThresholdSet

__all__ = ["DEFAULT_MIN_JUDGE_KAPPA", "JudgeReliance", "gate_from_thresholds", "reliance"]


class JudgeReliance(BaseModel):
    """A judge as a label's source: its measured agreement in one run, and the gate."""

    judge: str
    run_id: str
    kappa: float | None = None
    kappa_low: float | None = None     # lower bound of the 95% interval of κ
    accuracy: float | None = None
    n: int = 0
    split: str = ""                    # the recorded split words ("held-out", ...)
    held_out: bool | None = None       # None: no agreement recorded at all
    gate: float = DEFAULT_MIN_JUDGE_KAPPA
    passes_gate: bool = False
    human: bool = False
    reason: str = ""                   # why it does not pass (gate_reason's words)

    def describe(self) -> str:
        """One line: the judge, its agreement, and whether its labels count."""
        if self.human:
            return f"{self.judge}: clinician reviewer (a human label; not gated)"
        if self.kappa is None:
            return f"{self.judge}: not counted ({self.reason})"
        low = f" (95% lower bound {self.kappa_low:.2f})" if self.kappa_low is not None else ""
        measured = f"{self.judge}: κ {self.kappa:.2f}{low} on {self.n} {self.split} responses"
        if self.passes_gate:
            return f"{measured}; passes the gate (κ lower bound ≥ {self.gate:.2f})"
        return f"{measured}; NOT counted: {self.reason}"


def reliance(judge: str, run_id: str, agreements: list[JudgeAgreement],
             gate: float = DEFAULT_MIN_JUDGE_KAPPA) -> JudgeReliance:
    """The reliance of `judge` in one run (`agreements`: that run's recorded validations)."""
    if judge == REVIEWER_GROUP or is_reviewer(judge):
        return JudgeReliance(judge=judge, run_id=run_id, gate=gate, passes_gate=True,
                             human=True)
    why = gate_reason(judge, gate, agreements)
    found = next((a for a in agreements if a.judge == judge), None)
    if found is None:
        return JudgeReliance(judge=judge, run_id=run_id, gate=gate, reason=why or "")
    return JudgeReliance(
        judge=judge, run_id=run_id, kappa=found.kappa,
        kappa_low=found.kappa_interval.low if found.kappa_interval else None,
        accuracy=found.accuracy, n=found.n, split=split_words(found),
        held_out=found.held_out, gate=gate, passes_gate=why is None, reason=why or "")


def gate_of(thresholds: "ThresholdSet") -> float:
    """The strictest `min_judge_kappa` of a thresholds set: one gate for labels that feed
    every open-ended family at once."""
    limits = thresholds.judge_kappa
    return max(limits.values()) if limits else DEFAULT_MIN_JUDGE_KAPPA


def gate_from_thresholds(thresholds_path: str | Path | None = None) -> float:
    """gate_of the thresholds file (the bundled one by default)."""
    from engine.report.thresholds import load_thresholds
    return gate_of(load_thresholds(thresholds_path))
