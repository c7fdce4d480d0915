"""Position bias: a model's habit of answering one letter whatever the question.

Small models often pick the same option letter on most items. Two such models
"agree" on C against the key on every item whose key is not C, and the queue
filled with items nobody had reason to doubt (38 of 52 in one run). Their
agreement says something about the models, nothing about the key, so an answer
on a model's dominant letter is set aside as evidence against the key. The
rule is measured per model and run, from that model's own answers to the suite,
and compared with how often the letter really is the key, so a suite whose keys
are mostly C does not make every model look biased.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from engine.stewardship.answers import MISLEADING_CONDITIONS, StoredAnswer

DOMINANT_SHARE = 0.5   # picks the letter on more than half of its answers ...
KEY_MARGIN = 0.25      # ... and at least 25 points more often than the letter is the key
MIN_ANSWERS = 10       # fewer answers cannot show a habit

POSITION_RULE = (
    f"A letter is a model's dominant position in a run when, over that model's answers to "
    f"the suite's multiple-choice items in that run (one per item and condition; "
    f"conflict_evidence left out), it picks the letter on more than "
    f"{DOMINANT_SHARE:.0%} of them and at least {KEY_MARGIN * 100:.0f} points more often "
    f"than the letter is the key, from {MIN_ANSWERS} answers up. That model's answers on "
    f"its dominant letter do not count as disagreement with a key: agreement on it is the "
    f"models' habit, not evidence that the key is wrong.")


@dataclass(frozen=True)
class PositionBias:
    """One model's dominant letter in one run, with the shares that make it dominant."""

    run_id: str
    model: str
    letter: str
    share: float         # of the model's answers that pick the letter
    key_share: float     # of the same answers' items whose key is the letter
    n_answers: int

    def describe(self) -> str:
        return (f"{self.model} picks {self.letter} on {self.share:.0%} of its "
                f"{self.n_answers} answers in run {self.run_id} ({self.letter} is the key on "
                f"{self.key_share:.0%})")


PositionBiases = Mapping[tuple[str, str], PositionBias]   # (run_id, model) -> bias


def _usable(a: StoredAnswer) -> bool:
    return a.kind == "mcq" and a.answered and a.condition not in MISLEADING_CONDITIONS


def dominant_positions(keys: Mapping[str, str],
                       answers: Mapping[str, Iterable[StoredAnswer]]) -> dict[tuple[str, str],
                                                                              PositionBias]:
    """(run, model) -> its dominant letter, for models that have one (see POSITION_RULE).

    `keys` maps each multiple-choice item id to its key; answers to other items
    (open items, items no longer in the suite) do not enter the shares.
    """
    picked: dict[tuple[str, str], Counter] = {}
    keyed: dict[tuple[str, str], Counter] = {}
    for item_id, got in answers.items():
        key = keys.get(item_id)
        if key is None:
            continue
        for a in got:
            if _usable(a):
                who = (a.run_id, a.model)
                picked.setdefault(who, Counter())[a.chosen] += 1
                keyed.setdefault(who, Counter())[key] += 1
    out = {}
    for who, counts in picked.items():
        found = _dominant(who, counts, keyed[who])
        if found is not None:
            out[who] = found
    return out


def _dominant(who: tuple[str, str], counts: Counter, keys: Counter) -> PositionBias | None:
    n = sum(counts.values())
    if n < MIN_ANSWERS:
        return None
    letter, top = counts.most_common(1)[0]
    share, key_share = top / n, keys[letter] / n
    if share > DOMINANT_SHARE and share - key_share >= KEY_MARGIN:
        return PositionBias(run_id=who[0], model=who[1], letter=str(letter),
                            share=round(share, 4), key_share=round(key_share, 4),
                            n_answers=n)
    return None


def is_habitual(a: StoredAnswer, key: str, biases: PositionBiases | None) -> bool:
    """An answer against the key on its model's dominant letter: no evidence on the key."""
    if not biases or a.chosen is None or a.chosen == key:
        return False
    bias = biases.get((a.run_id, a.model))
    return bias is not None and bias.letter == a.chosen
