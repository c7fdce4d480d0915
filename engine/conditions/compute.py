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


def majority_vote(votes: Iterable[str | None], prefer: str | None = None
                  ) -> tuple[str | None, float]:
    """The one majority vote of SafeVet (sampled answers, `samples` compute strategy).

    Returns the winning letter and its share of the *parseable* votes: an
    unparseable sample is no vote at all, so it neither wins nor dilutes the
    share. Ties go to `prefer` (the plain answer) when it is among the tied
    letters, else to the alphabetically first, so the result never depends on
    the order samples were drawn in. No parseable vote: (None, 0.0).
    """
    counts = Counter(v for v in votes if v is not None)
    if not counts:
        return None, 0.0
    top = max(counts.values())
    tied = sorted(letter for letter, n in counts.items() if n == top)
    winner = prefer if prefer in tied else tied[0]
    return winner, top / sum(counts.values())
