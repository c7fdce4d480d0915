"""Answer artefacts and label consistency in the bundled demo MCQ suite (issue 18 part 6).

A committee reads accuracy as knowledge; if the key were usually the longest
option, or usually one letter, a model could score by picking the artefact.
These checks measure the real suite file and each is also run on a broken copy
to show it can fail.

Definitions used here:
- "longest": by character length of the option text. A key tied with another
  option for the greatest length counts as longest (the conservative reading:
  "always pick the longest" would get such an item right at least part of the
  time). The share must be at most 30% (chance with four options is 25%).
- key balance: each letter's share of keys among the items that offer that
  letter, each between 15% and 35%.
- "the conflict passage points at a wrong option": the suite schema has no
  field naming the option the conflict evidence supports, so a stated text
  overlap is used. Content words of an option are its lower-cased words of
  three or more characters (or starting with a digit), minus a short stop list
  and minus the words of the question; the option whose content words appear
  most often in the conflict passage must be a wrong option, strictly ahead
  of the key.
- label rule (assets/suites/demo-radiology-mcq/README.md): the machine-checkable
  part is that every `high_risk` option is also `unsafe`, and the README states
  the rule for each of the three labels.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from engine.suites.io import load_suite
from engine.suites.schema import McqItem

REPO = Path(__file__).resolve().parent.parent
SUITE_DIR = REPO / "assets" / "suites" / "demo-radiology-mcq"

MIN_ITEMS = 80
MAX_LONGEST_KEY_SHARE = 0.30
KEY_SHARE_RANGE = (0.15, 0.35)
FAMILIES = {"Bosniak": "rad-bosniak-", "LI-RADS": "rad-lirads-", "O-RADS": "rad-orads-",
            "TI-RADS": "rad-tirads-"}
MIN_PER_FAMILY = 4
OVERCLAIM = re.compile(r"\b(always|never)\b", re.IGNORECASE)
STOP = frozenset("""a an the of to in on at for with and or but is are was be been being by as
it its this that these those from into than then there their them they he she his her who which
what when where why how not no any all every each some such only also may can could should would
will must do does did done has have had more most less least very over under above below up down
out about after before between patient patients one two per""".split())


# ---------------------------------------------------------------- measures

def key_is_longest(item: McqItem) -> bool:
    lengths = {k: len(v) for k, v in item.options.items()}
    return lengths[item.answer] >= max(n for k, n in lengths.items() if k != item.answer)


def longest_key_share(items: list[McqItem]) -> float:
    return sum(key_is_longest(it) for it in items) / len(items)


def key_shares(items: list[McqItem]) -> dict[str, float]:
    keys = Counter(it.answer for it in items)
    offered = Counter(letter for it in items for letter in it.options)
    return {letter: keys[letter] / offered[letter] for letter in sorted(offered)}


def content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+(?:[.-][a-z0-9]+)*", text.lower())
    return {w for w in words if w not in STOP and (len(w) > 2 or w[0].isdigit())}


def conflict_overlap(item: McqItem) -> dict[str, int]:
    """Per option: how many of its content words (not in the question) the conflict passage uses."""
    question, conflict = content_words(item.question), content_words(item.conflict_evidence)
    return {k: len((content_words(v) - question) & conflict) for k, v in item.options.items()}


def conflict_problems(item: McqItem) -> list[str]:
    overlap = conflict_overlap(item)
    best_wrong = max(n for k, n in overlap.items() if k != item.answer)
    if best_wrong <= overlap[item.answer]:
        return [f"{item.id}: the conflict passage does not point at a wrong option {overlap}"]
    return []


def label_rule_problems(item: McqItem) -> list[str]:
    return [f"{item.id} {k}: high_risk but not unsafe" for k, labels in item.option_labels.items()
            if "high_risk" in labels and "unsafe" not in labels]


def family_counts(items: list[McqItem]) -> dict[str, int]:
    """Items per scoring-system family: id prefix, and the question names the system."""
    return {name: sum(1 for it in items if it.id.startswith(prefix) and name in it.question)
            for name, prefix in FAMILIES.items()}


def summary(items: list[McqItem]) -> str:
    shares = ", ".join(f"{k} {v:.0%}" for k, v in key_shares(items).items())
    return (f"{len(items)} items; key longest in {sum(key_is_longest(it) for it in items)} "
            f"({longest_key_share(items):.1%}); keys {shares}; always/never in conflict "
            f"passages: {sum(bool(OVERCLAIM.search(it.conflict_evidence)) for it in items)}")


# ---------------------------------------------------------------- the real suite

@pytest.fixture(scope="module")
def items() -> list[McqItem]:
    suite = load_suite(SUITE_DIR)
    print("\n" + summary(suite.mcq_items()))
    return suite.mcq_items()


def test_enough_items(items):
    assert len(items) >= MIN_ITEMS


def test_key_is_rarely_the_longest_option(items):
    assert longest_key_share(items) <= MAX_LONGEST_KEY_SHARE, summary(items)


def test_key_letters_balanced(items):
    lo, hi = KEY_SHARE_RANGE
    shares = key_shares(items)
    assert all(lo <= s <= hi for s in shares.values()), shares
    assert {len(it.options) for it in items} == {4}


def test_scoring_system_families_present(items):
    counts = family_counts(items)
    assert all(n >= MIN_PER_FAMILY for n in counts.values()), counts


def test_each_conflict_passage_points_at_a_wrong_option(items):
    assert [p for it in items for p in conflict_problems(it)] == []


def test_conflict_passages_do_not_overclaim(items):
    assert [it.id for it in items if OVERCLAIM.search(it.conflict_evidence)] == []


def test_labels_follow_the_written_rule(items):
    assert [p for it in items for p in label_rule_problems(it)] == []
    readme = (SUITE_DIR / "README.md").read_text(encoding="utf-8")
    for label in ("`high_risk`", "`unsafe`", "`contradicts_evidence`"):
        assert label in readme
    assert "serious harm or death" in readme and "accepted safety practice" in readme


# ---------------------------------------------------------------- the checks can fail

def _broken(it: McqItem, **changes) -> McqItem:
    return it.model_copy(update=changes)


def test_checks_catch_artefacts(items):
    padding = ", which is the complete and correct answer" * 5
    padded = [_broken(it, options={k: v + (padding if k == it.answer else "")
                                   for k, v in it.options.items()}) for it in items]
    assert longest_key_share(padded) == 1.0
    all_a = [_broken(it, answer="A", option_labels={}) for it in items]
    assert key_shares(all_a)["A"] == 1.0 and key_shares(all_a)["B"] == 0.0
    assert family_counts([it for it in items if not it.id.startswith("rad-orads-")])["O-RADS"] == 0

    first = items[0]
    pointing_at_key = _broken(first, conflict_evidence=first.options[first.answer])
    assert conflict_problems(pointing_at_key)
    wrong = next(k for k in first.options if k != first.answer)
    assert not conflict_problems(_broken(first, conflict_evidence=first.options[wrong]))
    assert label_rule_problems(_broken(first, option_labels={wrong: ["high_risk"]}))
    assert OVERCLAIM.search("Metformin must always be stopped")
