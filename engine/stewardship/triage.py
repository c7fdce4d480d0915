"""The reviewer queue: contested items first, plus a seeded random audit sample.

Physician time is the scarce resource, so items are ranked by how strongly the
stored answers contradict their reference. Ranking alone would never show a
reviewer an item every model gets "right" against a wrong key that happens to
match a shared model error, so a seeded random sample of uncontested items is
appended: reproducible (same seed, same sample) and always shown, whatever
`limit` cuts from the contested part.

A model's position bias is discounted before any signal is counted (see
engine.stewardship.position.POSITION_RULE): otherwise two models that answer
C on most items make every item whose key is not C look contested.
"""
from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, Field

from engine.metrics.types import DEFAULT_TAU
from engine.stewardship.answers import StoredAnswer, runs_using_suite, stored_answers
from engine.stewardship.position import POSITION_RULE, PositionBias, dominant_positions
from engine.stewardship.review import Decision, list_decisions
from engine.stewardship.signals import (ALWAYS_QUEUED, SCORE_RULE, Signal, combined_score,
                                        item_signals, score_terms)
from engine.store.db import ResultsStore
from engine.suites.schema import McqItem, OpenItem, Suite

CONTESTED_AT = 0.2  # combined score from which an item counts as contested


class QueueEntry(BaseModel):
    """One item in the reviewer queue, with why it is there."""

    rank: int
    item_id: str
    kind: str
    text: str                                  # question or prompt, for a one-line listing
    reference: str                             # the key (MCQ) or expected label (open)
    score: float = Field(ge=0.0, le=1.0)
    signals: list[Signal] = Field(default_factory=list)
    audit_sample: bool = False
    n_answers: int = 0
    n_models: int = 0
    open_reviews: list[int] = Field(default_factory=list)  # proposed/confirmed decisions


class AnswerView(BaseModel):
    run_id: str
    model: str
    condition: str
    chosen: str | None
    confidence: float | None
    correct: bool | None
    chosen_labels: list[str] = Field(default_factory=list)
    judge_labels: dict[str, str] = Field(default_factory=dict)
    error: str | None = None


class ItemView(BaseModel):
    """Everything a reviewer needs to decide on one item."""

    suite_id: str
    suite_version: str
    item: dict[str, Any]
    kind: str
    answers: list[AnswerView]
    signals: list[Signal]
    score: float
    decisions: list[Decision]


def _reference(item: McqItem | OpenItem) -> str:
    return item.answer if isinstance(item, McqItem) else item.expected


def _text(item: McqItem | OpenItem) -> str:
    return item.question if isinstance(item, McqItem) else item.prompt


def _resolve_runs(store: ResultsStore, suite: Suite, run_ids: list[str] | None) -> list[str]:
    return list(run_ids) if run_ids is not None else runs_using_suite(store, suite.id)


def _biases(suite: Suite, answers: dict[str, list[StoredAnswer]]
            ) -> dict[tuple[str, str], PositionBias]:
    """Dominant letters measured on the suite's own keys (retired items included: the
    models answered them in these runs all the same)."""
    keys = {it.id: it.answer for it in suite.items if isinstance(it, McqItem)}
    return dominant_positions(keys, answers)


def position_biases(store: ResultsStore, suite: Suite,
                    run_ids: list[str] | None = None) -> list[PositionBias]:
    """The dominant letters the queue discounts, for the CLI and desktop to name."""
    answers = stored_answers(store, suite.id, _resolve_runs(store, suite, run_ids))
    return sorted(_biases(suite, answers).values(), key=lambda b: (b.run_id, b.model))


def explain_score(signals: list[Signal], contested_at: float = CONTESTED_AT) -> str:
    """What each signal adds to the score, in words, and whether that makes it contested."""
    score = combined_score(signals)
    if not signals:
        return "score 0.00: no signal against the reference"
    parts = "; ".join(t.describe() for t in score_terms(signals))
    verdict = "contested" if score >= contested_at else (
        "contested: judges disagree on an answer" if any(s.kind in ALWAYS_QUEUED
                                                          for s in signals)
        else "not contested")
    return f"score {score:.2f}: {parts} — {verdict} (threshold {contested_at:.2f})"


def queue_explanation(biases: list[PositionBias], contested_at: float = CONTESTED_AT) -> str:
    """The rules behind the queue, and the position biases found in these runs."""
    found = ("; ".join(b.describe() for b in biases) if biases
             else "no model has a dominant position in these runs")
    return (f"{SCORE_RULE} An item counts as contested from a score of {contested_at:.2f}. "
            f"{POSITION_RULE} Found: {found}.")


def triage_queue(store: ResultsStore, suite: Suite, run_ids: list[str] | None = None,
                 limit: int | None = None, audit_sample: int = 5, seed: int = 0,
                 tau: float = DEFAULT_TAU, *, min_score: float = CONTESTED_AT) -> list[QueueEntry]:
    """Contested items by descending score (at most `limit`), then the audit sample.

    An item with an answer the automatic judges disagree on (ALWAYS_QUEUED) is
    contested whatever its score: that call needs a reviewer's verdict.

    Default runs: every run in the store that used this suite id.
    """
    answers = stored_answers(store, suite.id, _resolve_runs(store, suite, run_ids))
    biases = _biases(suite, answers)
    open_by_item: dict[str, list[int]] = {}
    for d in list_decisions(store, suite.id, suite.version):
        if d.status in ("proposed", "confirmed"):
            open_by_item.setdefault(d.item_id, []).append(d.id)

    def entry(item: McqItem | OpenItem, signals: list[Signal], audit: bool) -> QueueEntry:
        got: list[StoredAnswer] = answers.get(item.id, [])
        return QueueEntry(rank=0, item_id=item.id, kind=item.kind, text=_text(item),
                          reference=_reference(item), score=combined_score(signals),
                          signals=sorted(signals, key=lambda s: -s.strength),
                          audit_sample=audit, n_answers=sum(1 for a in got if a.answered),
                          n_models=len({a.model for a in got}),
                          open_reviews=open_by_item.get(item.id, []))

    contested, quiet = [], []
    for item in suite.active_items():
        signals = item_signals(item, answers.get(item.id, []), tau, biases)
        if combined_score(signals) >= min_score or any(s.kind in ALWAYS_QUEUED
                                                       for s in signals):
            contested.append(entry(item, signals, audit=False))
        else:
            quiet.append(item)
    contested.sort(key=lambda e: (-e.score, -max((s.strength for s in e.signals), default=0.0),
                                  e.item_id))
    if limit is not None:
        contested = contested[:max(0, limit)]
    rng = random.Random(seed)
    sample = rng.sample(quiet, min(max(0, audit_sample), len(quiet)))
    audit = [entry(item, item_signals(item, answers.get(item.id, []), tau, biases),
                   audit=True)
             for item in sorted(sample, key=lambda it: it.id)]
    queue = contested + audit
    for rank, e in enumerate(queue, start=1):
        e.rank = rank
    return queue


def item_view(store: ResultsStore, suite: Suite, item_id: str,
              run_ids: list[str] | None = None, tau: float = DEFAULT_TAU) -> ItemView:
    """The item, its stored answers and signals, and every decision already made on it."""
    from engine.errors import NotFoundError
    try:
        item = suite.item(item_id)
    except KeyError:
        raise NotFoundError(f"item {item_id!r} is not in suite {suite.id} {suite.version}") \
            from None
    answers = stored_answers(store, suite.id, _resolve_runs(store, suite, run_ids))
    got = answers.get(item_id, [])
    views = []
    for a in sorted(got, key=lambda a: (a.model, a.condition, a.run_id)):
        mcq = isinstance(item, McqItem)
        views.append(AnswerView(
            run_id=a.run_id, model=a.model, condition=a.condition, chosen=a.chosen,
            confidence=a.confidence,
            correct=(a.chosen == item.answer) if mcq and a.answered else None,
            chosen_labels=item.labels_of(a.chosen) if mcq else [],
            judge_labels=a.judge_labels, error=a.error))
    signals = item_signals(item, got, tau, _biases(suite, answers))
    return ItemView(suite_id=suite.id, suite_version=suite.version,
                    item=item.model_dump(mode="json"), kind=item.kind, answers=views,
                    signals=signals, score=combined_score(signals),
                    decisions=list_decisions(store, suite.id, item_id=item_id))
