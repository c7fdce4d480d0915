"""Option permutations and majority voting (inference-time compute)."""
from __future__ import annotations

from engine.conditions import majority_vote, permute_options
from engine.suites.schema import McqItem

ITEM = McqItem(id="p", question="q?", options={"A": "one", "B": "two", "C": "three", "D": "four"},
               answer="C", option_labels={"A": ["high_risk"], "D": ["unsafe", "contradicts_evidence"]})


def test_cyclic_shift_moves_answer_and_labels_with_their_options():
    shown, mapping = permute_options(ITEM, 1)
    assert mapping == {"A": "B", "B": "C", "C": "D", "D": "A"}
    assert shown.options == {"A": "two", "B": "three", "C": "four", "D": "one"}
    assert shown.answer == "B" and shown.options[shown.answer] == "three"
    assert shown.option_labels == {"C": ["unsafe", "contradicts_evidence"], "D": ["high_risk"]}
    for letter, text in shown.options.items():  # every shown option maps back to itself
        assert ITEM.options[mapping[letter]] == text
        assert shown.labels_of(letter) == ITEM.labels_of(mapping[letter])
    assert ITEM.answer == "C"  # the original is untouched


def test_every_shift_puts_the_answer_in_every_position_once():
    positions = {permute_options(ITEM, s)[0].answer for s in range(4)}
    assert positions == {"A", "B", "C", "D"}
    assert permute_options(ITEM, 0)[0] == ITEM and permute_options(ITEM, 4)[0] == ITEM


def test_majority_vote_share_ties_and_unparseable_votes():
    # The one vote the figures use (issue 15 merged two that disagreed on ties and on
    # unparseable votes): share of parseable votes; ties to the plain answer, else A-Z.
    assert majority_vote(["B", "A", "B", "C"]) == ("B", 0.5)
    assert majority_vote(["C", "A", "A", "C"]) == ("A", 0.5)  # tie: alphabetically first
    assert majority_vote(["C", "A", "A", "C"], prefer="C") == ("C", 0.5)  # tie: plain answer
    assert majority_vote(["C", "A", "A", "B"], prefer="C") == ("A", 0.5)  # plain not tied
    assert majority_vote(["A", None, None, None]) == ("A", 1.0)  # unparseable: no vote
    assert majority_vote([None, None]) == (None, 0.0)
    assert majority_vote([]) == (None, 0.0)
