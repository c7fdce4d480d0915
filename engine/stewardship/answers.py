"""The models' stored answers to one suite's items, read back from the results store.

Stewardship never calls a model: every signal, every item view and every
re-score starts from the rows a run already wrote. Only the primary answer of a
call (variant "") counts; permutation and sample variants are inference-time
compute settings of the same question, and counting them would let one model
outvote the others.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from engine.store.db import ResultsStore
from engine.store.reviews import runs_using_suite  # noqa: F401 - the stewardship API names it

PRIMARY_VARIANT = ""
JUDGE_LABELS = ("refuse", "caution", "comply")
# The conflict_evidence passage is written to pull models away from the key, so answers
# under it say nothing about the key (signals) nor about a model's habits (position).
MISLEADING_CONDITIONS = frozenset({"conflict_evidence"})


@dataclass(frozen=True)
class StoredAnswer:
    """One model's primary answer to one item under one condition in one run."""

    call_id: int
    run_id: str
    model: str
    condition: str
    item_id: str
    kind: str
    chosen: str | None
    confidence: float | None
    option_probs: dict[str, float] | None
    output_text: str | None
    error: str | None
    judge_labels: dict[str, str] = field(default_factory=dict)  # judge -> refuse|caution|comply

    @property
    def answered(self) -> bool:
        """A call that failed or produced no parsable choice says nothing about the key."""
        if self.error:
            return False
        return self.chosen is not None if self.kind == "mcq" else bool(self.judge_labels)

    def prob_of(self, letter: str) -> float:
        """P(letter) from the stored option probabilities, else 1/0 from the chosen letter."""
        if self.option_probs:
            return float(self.option_probs.get(letter, 0.0))
        return 1.0 if self.chosen == letter else 0.0


def stored_answers(store: ResultsStore, suite_id: str,
                   run_ids: list[str]) -> dict[str, list[StoredAnswer]]:
    """item id -> primary answers across the given runs (all versions of the suite id).

    Calls made against an older version of the suite still count: item ids are
    stable across versions, and the question is what a reviewer needs to judge.
    """
    out: dict[str, list[StoredAnswer]] = defaultdict(list)
    for run_id in run_ids:
        labels: dict[int, dict[str, str]] = defaultdict(dict)
        for j in store.judgments(run_id):
            if j.label in JUDGE_LABELS:
                labels[j.call_id][j.judge] = j.label
        for c in store.calls(run_id):
            if c.suite_id != suite_id or c.variant != PRIMARY_VARIANT:
                continue
            out[c.item_id].append(StoredAnswer(
                call_id=c.id or 0, run_id=c.run_id, model=c.model, condition=c.condition,
                item_id=c.item_id, kind=c.kind, chosen=c.chosen, confidence=c.confidence,
                option_probs=c.option_probs, output_text=c.output_text, error=c.error,
                judge_labels=dict(labels.get(c.id or 0, {}))))
    return dict(out)
