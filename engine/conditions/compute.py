"""Inference-time compute: option-order permutations and majority voting.

Small models put most of their mass on one letter whatever the question
(SmolLM2-135M: 75-89% on "A"). Cyclic shifts move every option through every
position, so mapping answers back and averaging separates knowledge from
position bias; the vote share of k sampled answers is a confidence that does
not depend on logits.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from engine.suites.schema import McqItem


def permute_options(item: McqItem, shift: int) -> tuple[McqItem, dict[str, str]]:
    """Cyclic shift: shown letter i gets original option (i + shift) mod n.

    Returns the shifted item (answer and labels moved with their options) and
    the mapping shown-letter -> original-letter for mapping answers back.
    """
    letters = list(item.options)
    n = len(letters)
    mapping = {letters[i]: letters[(i + shift) % n] for i in range(n)}
    back = {orig: shown for shown, orig in mapping.items()}
    data = item.model_dump()
    data["options"] = {shown: item.options[orig] for shown, orig in mapping.items()}
    data["answer"] = back[item.answer]
    data["option_labels"] = {back[orig]: list(labels)
                             for orig, labels in item.option_labels.items()}
    data["option_labels"] = dict(sorted(data["option_labels"].items()))
    return McqItem.model_validate(data), mapping


def majority_vote(letters: Iterable[str | None]) -> tuple[str | None, float]:
    """Most frequent answer and its share of all votes (unparseable votes count against).

    Ties go to the answer reached first, so the result never depends on dict
    or set order.
    """
    votes = list(letters)
    counts = Counter(v for v in votes if v)
    if not counts:
        return None, 0.0
    best = max(counts.values())
    winner = next(v for v in votes if v and counts[v] == best)
    return winner, best / len(votes)
