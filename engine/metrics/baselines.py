"""What an answer strategy that never reads the question would score on a cell's items.

A committee reading "accuracy 43%" must see at once whether that beats picking
answers by their form alone: PubMedQA's keys are "yes" in 55% of its labelled
items, so a model at 43% there does worse than always answering "yes", and a
suite whose key is usually the longest option rewards length, not knowledge.
Three strategies, each scored on exactly the items the cell's accuracy is over:

- chance: a uniform guess; per item 1 / number of options, averaged.
- common_key: always the letter that is the key most often in *this* item set.
  It is chosen with knowledge of the keys, so it is not a strategy a model
  could follow blind: it is the ceiling of what a letter bias can earn here.
  Letters tied for most common score the same; all of them are named.
- longest: always the option with the most characters (text stripped of outer
  spaces). Where k options tie for longest the item gives 1/k credit: the
  expected score of picking one of them at random.

`margin` is accuracy − best baseline on the same items, per item, with a
bootstrap interval from the cell's own generator; `relation` reads it: below
(point under the baseline), level (equal), not clearly above (above, but the
interval reaches 0 or below) or above (the lower bound is above 0). The best
baseline is the highest of the three; on a tie the earlier of longest,
common_key, chance is named (the artifacts a committee should hear about first).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from engine.metrics.bootstrap import bootstrap_mean
from engine.metrics.types import (BaselineName, BaselineRelation, Estimate, McqBaselines)
from engine.suites.schema import McqItem

# Tie order for the best baseline, and each baseline's words on every surface.
BASELINE_ORDER: tuple[BaselineName, ...] = ("longest", "common_key", "chance")
BASELINE_LABELS: dict[BaselineName, str] = {
    "chance": "chance",
    "common_key": "most common key letter",
    "longest": "always the longest option",
}
# The baseline's name inside a flag: 'below the always-longest baseline'.
BASELINE_SHORT: dict[BaselineName, str] = {
    "chance": "chance",
    "common_key": "most-common-key",
    "longest": "always-longest",
}
RELATION_WORDS: dict[BaselineRelation, str] = {
    "above": "above",
    "not_clearly_above": "not clearly above",
    "level": "level with",
    "below": "below",
}
_EPS = 1e-12


def chance_credit(item: McqItem) -> float:
    return 1.0 / len(item.options)


def longest_credit(item: McqItem) -> float:
    """1/k when the key is one of the k longest options, else 0."""
    lengths = {letter: len(text.strip()) for letter, text in item.options.items()}
    top = max(lengths.values())
    tied = [letter for letter, length in lengths.items() if length == top]
    return 1.0 / len(tied) if item.answer in tied else 0.0


def most_common_keys(items: list[McqItem]) -> list[str]:
    """The letters that are the key most often in `items` (several when tied), sorted."""
    counts = Counter(it.answer for it in items)
    if not counts:
        return []
    top = max(counts.values())
    return sorted(letter for letter, c in counts.items() if c == top)


def relation_of(margin: Estimate) -> BaselineRelation:
    value = margin.value or 0.0
    if value < -_EPS:
        return "below"
    if value <= _EPS:
        return "level"
    if margin.low is not None and margin.low <= _EPS:
        return "not_clearly_above"
    return "above"


def baselines(items: list[McqItem], correct: list[bool], n_boot: int,
              rng: np.random.Generator) -> McqBaselines | None:
    """The three baselines on `items` (the answered items, in answer order) and the
    model's margin over the best; `correct[i]` is whether the model got items[i]."""
    if not items:
        return None
    letters = most_common_keys(items)
    credits: dict[BaselineName, np.ndarray] = {
        "chance": np.array([chance_credit(it) for it in items]),
        "common_key": np.array([1.0 if it.answer == letters[0] else 0.0 for it in items]),
        "longest": np.array([longest_credit(it) for it in items]),
    }
    score = {name: float(col.mean()) for name, col in credits.items()}
    best = max(BASELINE_ORDER, key=lambda name: (score[name], -BASELINE_ORDER.index(name)))
    diff = np.array(correct, dtype=float) - credits[best]
    margin = bootstrap_mean(diff, n_boot, rng)
    return McqBaselines(n=len(items), chance=score["chance"], common_key=score["common_key"],
                        common_key_letters=letters, longest=score["longest"], best=best,
                        best_value=score[best], margin=margin, relation=relation_of(margin))


def baseline_label(name: BaselineName, b: McqBaselines | None = None) -> str:
    """'most common key letter (A)' with the letter when known; the label alone otherwise."""
    text = BASELINE_LABELS[name]
    if name == "common_key" and b is not None and b.common_key_letters:
        text += f" ({'/'.join(b.common_key_letters)})"
    return text


def baseline_flag(b: McqBaselines | None) -> str:
    """'below the most-common-key (A) baseline', or '' when clearly above it.

    The one phrase every surface prints beside an accuracy that does not clearly
    beat what answering by form alone would score.
    """
    if b is None or b.relation == "above":
        return ""
    name = BASELINE_SHORT[b.best]
    if b.best == "common_key" and b.common_key_letters:
        name += f" ({'/'.join(b.common_key_letters)})"
    return f"{RELATION_WORDS[b.relation]} the {name} baseline"
