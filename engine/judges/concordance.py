"""How far a run's judges agree with each other, on the calls both of them judged.

Where two automatic judges scored the same answers, their agreement on those
answers is the cheapest check of either: a κ near zero between them means at
least one is reading something other than the answer. Only the three labels
count (an unparseable verdict is no label to agree on), and a clinician
reviewer is not one of the judges compared (a reviewer's verdict replaces
theirs; see engine.metrics.open_ended). The disagreeing calls are what the
review queue puts before a reviewer (engine.stewardship.signals, judges_split).
"""
from __future__ import annotations

from itertools import combinations

from pydantic import BaseModel, Field

from engine.judges.types import LABELS, Interval, is_reviewer
from engine.judges.validation import cohen_kappa, kappa_interval, wilson
from engine.store.db import ResultsStore


class JudgePair(BaseModel):
    """Two judges on the same model's answers: agreement, κ, and the calls they split on."""

    model: str
    judge_a: str
    judge_b: str
    n: int                                  # calls both gave a label to
    agreement: float | None = None
    agreement_interval: Interval | None = None   # Wilson score 95%
    kappa: float | None = None
    kappa_interval: Interval | None = None       # percentile bootstrap 95%, seeded
    disagreements: list[int] = Field(default_factory=list)   # call ids


def judged_labels(store: ResultsStore, run_id: str,
                  model: str | None = None) -> dict[str, dict[int, dict[str, str]]]:
    """model -> call id -> automatic judge -> label, for primary open-ended answers."""
    calls = {c.id: c for c in store.calls(run_id, model)
             if c.kind == "open" and c.variant == "" and not c.error}
    out: dict[str, dict[int, dict[str, str]]] = {}
    for j in store.judgments(run_id):
        call = calls.get(j.call_id)
        if call is None or is_reviewer(j.judge) or j.label not in LABELS:
            continue
        out.setdefault(call.model, {}).setdefault(j.call_id, {})[j.judge] = j.label
    return out


def judge_concordance(store: ResultsStore, run_id: str,
                      model: str | None = None) -> list[JudgePair]:
    """Every pair of automatic judges of the run (of `model`), on their common calls."""
    pairs: list[JudgePair] = []
    for m, by_call in sorted(judged_labels(store, run_id, model).items()):
        judges = sorted({j for labels in by_call.values() for j in labels})
        for a, b in combinations(judges, 2):
            common = sorted(cid for cid, labels in by_call.items() if a in labels and b in labels)
            la = [by_call[cid][a] for cid in common]
            lb = [by_call[cid][b] for cid in common]
            same = sum(x == y for x, y in zip(la, lb))
            n = len(common)
            pairs.append(JudgePair(
                model=m, judge_a=a, judge_b=b, n=n, agreement=same / n if n else None,
                agreement_interval=wilson(same, n), kappa=cohen_kappa(la, lb) if n else None,
                kappa_interval=kappa_interval(la, lb),
                disagreements=[cid for cid, x, y in zip(common, la, lb) if x != y]))
    return pairs
