"""Contention signals: evidence, from stored answers, that an item's reference may be wrong.

Each signal has a strength in [0, 1] and a sentence a clinician can check
against the item. They are deliberately simple counts and shares: a reviewer
must be able to see why an item is at the top of the queue, and a ranking
nobody can explain does not earn scarce physician time.

The conflict_evidence condition is left out of every MCQ signal: its passage is
written to pull models away from the key, so answers under it say nothing
about whether the key is right. Nor does an answer on a model's dominant
letter (engine.stewardship.position): a habit is not a judgement on the item.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import mean
from typing import Literal

from pydantic import BaseModel, Field

from engine.judges.types import is_reviewer
from engine.stewardship.answers import MISLEADING_CONDITIONS, StoredAnswer
from engine.stewardship.position import PositionBiases, is_habitual
from engine.suites.schema import McqItem, OpenItem

SignalKind = Literal["consensus_other", "confident_disagreement", "evidence_shift",
                     "judges_split", "judged_against_expected"]

# What each signal says, in a reviewer's words (the queue's score explanation uses these).
SIGNAL_WORDS: dict[str, str] = {
    "consensus_other": "models agree on another answer than the key",
    "confident_disagreement": "confident answers against the key",
    "evidence_shift": "the clean evidence moves models off the key",
    "judges_split": "judges disagree on the answers",
    "judged_against_expected": "answers are judged against the expected label",
}
SCORE_RULE = ("The score combines the signals as independent reasons to doubt the reference: "
              "score = 1 − (1 − s1)(1 − s2)…, where each strength s (0 to 1) is how much of "
              "the stored evidence argues against the reference (a share of models or "
              "answers, or the mean fall in the key's probability). One strong signal is "
              "enough; a second adds less the higher the score already is; it never passes 1.")

__all__ = ["ALWAYS_QUEUED", "MISLEADING_CONDITIONS", "SCORE_RULE", "SIGNAL_WORDS",
           "ScoreTerm", "Signal",
           "combined_score", "item_signals", "mcq_signals", "open_signals", "score_terms"]
FULL_WEIGHT_MODELS = 3  # below this many models a cross-model consensus is only partial evidence
MIN_DROP = 0.05         # a smaller fall in P(key) is noise, not the evidence arguing
SPLIT_CALLS_NAMED = 5   # call ids a judges_split explanation names (the view lists them all)
# Signals that put an item in the queue whatever its score: a call the judges split on
# has no verdict anyone can stand behind until a reviewer gives one.
ALWAYS_QUEUED: frozenset[str] = frozenset({"judges_split"})


class Signal(BaseModel):
    """One reason to look at an item, with how strongly the stored answers say so."""

    kind: SignalKind
    strength: float = Field(ge=0.0, le=1.0)
    explanation: str


def _model_votes(answers: list[StoredAnswer], vote_of) -> dict[str, str]:
    """model -> its modal vote over its answers; a tied model abstains."""
    per_model: dict[str, Counter] = {}
    for a in answers:
        v = vote_of(a)
        if v is not None:
            per_model.setdefault(a.model, Counter())[v] += 1
    votes = {}
    for model, counts in per_model.items():
        top = counts.most_common(2)
        if len(top) == 1 or top[0][1] > top[1][1]:
            votes[model] = top[0][0]
    return votes


def _consensus(votes: dict[str, str], reference: str) -> tuple[str, int, int] | None:
    """(most-voted non-reference answer, its models, models voting) if ≥2 models agree on it."""
    others = Counter(v for v in votes.values() if v != reference)
    if not others:
        return None
    value, count = others.most_common(1)[0]
    return (value, count, len(votes)) if count >= 2 else None


def _weight(n_models: int) -> float:
    return min(1.0, n_models / FULL_WEIGHT_MODELS)


def _habit_note(habitual: list[StoredAnswer]) -> str:
    """Which answers were set aside as position bias, so the count can be checked."""
    if not habitual:
        return ""
    who = sorted({f"{a.model} {a.chosen}" for a in habitual})
    return (f"; not counted: {len(habitual)} answer(s) on the model's dominant letter "
            f"({', '.join(who)})")


def mcq_signals(item: McqItem, answers: list[StoredAnswer], tau: float,
                biases: PositionBiases | None = None) -> list[Signal]:
    """Signals for a multiple-choice item against its key.

    `biases` are the models' dominant letters in these runs: answers on them
    neither vote in a consensus nor count as confident disagreement.
    """
    key = item.answer
    usable = [a for a in answers if a.answered and a.condition not in MISLEADING_CONDITIONS]
    habitual = [a for a in usable if is_habitual(a, key, biases)]
    counted = [a for a in usable if not is_habitual(a, key, biases)]
    note = _habit_note(habitual)
    signals: list[Signal] = []

    found = _consensus(_model_votes(counted, lambda a: a.chosen), key)
    if found:
        letter, count, n_models = found
        signals.append(Signal(
            kind="consensus_other", strength=round(count / n_models * _weight(n_models), 4),
            explanation=f"{count} of {n_models} models answer {letter} rather than the key "
                        f"{key}{note}"))

    confident = [a for a in counted if a.chosen != key and (a.confidence or 0.0) >= tau]
    if confident:
        top_letter, _ = Counter(a.chosen for a in confident).most_common(1)[0]
        signals.append(Signal(
            kind="confident_disagreement", strength=round(len(confident) / len(usable), 4),
            explanation=f"{len(confident)} of {len(usable)} answers pick another option at "
                        f"confidence ≥ {tau:.2f} (mean "
                        f"{mean(a.confidence or 0.0 for a in confident):.2f}, mostly "
                        f"{top_letter}); the key is {key}{note}"))

    closed = {(a.run_id, a.model): a for a in usable if a.condition == "closed_book"}
    pairs = [(closed[(a.run_id, a.model)], a) for a in usable
             if a.condition == "clean_evidence" and (a.run_id, a.model) in closed]
    if pairs:
        drops = [max(0.0, c.prob_of(key) - e.prob_of(key)) for c, e in pairs]
        lowered = sum(1 for d in drops if d >= MIN_DROP)
        if lowered:
            flips = sum(1 for c, e in pairs if c.chosen == key and e.chosen != key)
            signals.append(Signal(
                kind="evidence_shift", strength=round(mean(drops), 4),
                explanation=f"the clean evidence lowers the key's probability for {lowered} "
                            f"of {len(pairs)} model runs (mean drop {mean(drops):.2f}); "
                            f"{flips} switch away from the key {key} once given it"))
    return signals


def _majority_label(a: StoredAnswer) -> str | None:
    counts = Counter(a.judge_labels.values()).most_common(2)
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def open_signals(item: OpenItem, answers: list[StoredAnswer]) -> list[Signal]:
    """Signals for an open item: judges split, or judged answers against its expected label."""
    judged = [a for a in answers if a.answered]
    signals: list[Signal] = []
    # Automatic judges only, on answers no reviewer has judged yet: a reviewer's verdict
    # settles a split (it replaces the judges' in every figure), so it leaves the queue.
    multi = [a for a in judged if not any(is_reviewer(j) for j in a.judge_labels)
             and len(a.judge_labels) >= 2]
    split = [a for a in multi if len(set(a.judge_labels.values())) > 1]
    if split:
        example = ", ".join(f"{j}: {lab}" for j, lab in sorted(split[0].judge_labels.items()))
        calls = ", ".join(str(a.call_id) for a in split[:SPLIT_CALLS_NAMED])
        more = f" and {len(split) - SPLIT_CALLS_NAMED} more" \
            if len(split) > SPLIT_CALLS_NAMED else ""
        signals.append(Signal(
            kind="judges_split", strength=round(len(split) / len(multi), 4),
            explanation=f"judges disagree on {len(split)} of {len(multi)} answers judged "
                        f"more than once (e.g. {example}); calls {calls}{more} need a "
                        f"reviewer's verdict"))
    found = _consensus(_model_votes(judged, _majority_label), item.expected)
    if found:
        label, count, n_models = found
        signals.append(Signal(
            kind="judged_against_expected",
            strength=round(count / n_models * _weight(n_models), 4),
            explanation=f"answers from {count} of {n_models} models are judged {label}; the "
                        f"item expects {item.expected}"))
    return signals


def item_signals(item: McqItem | OpenItem, answers: list[StoredAnswer],
                 tau: float, biases: PositionBiases | None = None) -> list[Signal]:
    if isinstance(item, McqItem):
        return mcq_signals(item, answers, tau, biases)
    return open_signals(item, answers)


def combined_score(signals: list[Signal]) -> float:
    """Noisy-or of the strengths: independent reasons to doubt an item add up, capped at 1."""
    keep = 1.0
    for s in signals:
        keep *= 1.0 - s.strength
    return round(1.0 - keep, 4)


@dataclass(frozen=True)
class ScoreTerm:
    """One signal's part in an item's score, so a reviewer can see what put it there."""

    kind: str
    words: str          # SIGNAL_WORDS, what the signal says
    strength: float
    adds: float         # how much it raises the score of the stronger signals before it
    total: float        # the score with it and every stronger signal

    def describe(self) -> str:
        return f"{self.words} (strength {self.strength:.2f}) adds {self.adds:.2f}"


def score_terms(signals: list[Signal]) -> list[ScoreTerm]:
    """The score taken apart, strongest signal first; the adds sum to combined_score.

    A noisy-or has no fixed share per signal, so each is credited with what it
    adds after the stronger ones: the first counts in full, later ones for
    the doubt that is left.
    """
    terms: list[ScoreTerm] = []
    keep = 1.0
    for s in sorted(signals, key=lambda s: -s.strength):
        before = 1.0 - keep
        keep *= 1.0 - s.strength
        terms.append(ScoreTerm(kind=s.kind, words=SIGNAL_WORDS.get(s.kind, s.kind),
                               strength=s.strength, adds=round((1.0 - keep) - before, 4),
                               total=round(1.0 - keep, 4)))
    return terms
