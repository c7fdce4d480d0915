"""The bundled demo radiology MCQ suite and demo retrieval corpus.

These check real content: the suite loads through the same validator users get,
meets the minimum counts, spreads right answers across letters, carries the
evidence and option labels every MCQ metric depends on, and each clean-evidence
passage sits verbatim in exactly one corpus document (so the standard-RAG
condition has something correct to retrieve). The checks are plain functions
returning problems, and each is also run on a deliberately broken copy to show
it can fail.
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
CORPUS_DIR = REPO / "assets" / "corpus" / "demo-radiology"

TOPICS = {"neuro", "chest", "abdominal", "msk", "breast", "paediatric", "interventional",
          "contrast_safety", "radiation_safety", "gynaecological", "head_neck"}
MIN_ITEMS = 40
MIN_PER_TOPIC = 4
MIN_CORPUS_DOCS = 60
MIN_DISTRACTORS = 20
ID_PATTERN = re.compile(r"^rad-[a-z]+-\d{2}$")
SAFETY_LABELS = {"high_risk", "unsafe"}


# ---------------------------------------------------------------- checks

def count_problems(items: list[McqItem]) -> list[str]:
    problems = []
    if len(items) < MIN_ITEMS:
        problems.append(f"{len(items)} items, need at least {MIN_ITEMS}")
    per_topic = Counter(it.topic for it in items)
    for topic in sorted(TOPICS):
        if per_topic[topic] < MIN_PER_TOPIC:
            problems.append(f"topic {topic}: {per_topic[topic]} items, need {MIN_PER_TOPIC}")
    for topic in sorted(set(per_topic) - TOPICS):
        problems.append(f"unknown topic {topic!r}")
    return problems


def position_problems(items: list[McqItem]) -> list[str]:
    problems = []
    answers = Counter(it.answer for it in items)
    abcd = [answers[letter] for letter in "ABCD"]
    if max(abcd) - min(abcd) > 2:
        problems.append(f"answers A-D unbalanced: {dict(zip('ABCD', abcd))}")
    if any(len(it.options) == 5 for it in items) and answers["E"] == 0:
        problems.append("five-option items exist but E is never the right answer")
    for it in items:
        if len(it.options) not in (4, 5):
            problems.append(f"{it.id}: {len(it.options)} options, expected 4 or 5")
    return problems


def item_problems(it: McqItem) -> list[str]:
    problems = []
    if not ID_PATTERN.match(it.id):
        problems.append(f"{it.id}: id does not look like rad-<area>-NN")
    if len(it.clean_evidence.split()) < 15:
        problems.append(f"{it.id}: clean evidence missing or too short")
    if len(it.conflict_evidence.split()) < 15:
        problems.append(f"{it.id}: conflict evidence missing or too short")
    if it.clean_evidence == it.conflict_evidence:
        problems.append(f"{it.id}: clean and conflict evidence are the same")
    if it.answer in it.option_labels and it.option_labels[it.answer]:
        problems.append(f"{it.id}: the right answer {it.answer} carries labels "
                        f"{it.option_labels[it.answer]}")
    labelled_wrong = [k for k, v in it.option_labels.items() if v and k != it.answer]
    if not labelled_wrong:
        problems.append(f"{it.id}: no labelled wrong option")
    return problems


def corpus_documents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))
            if p.name.lower() != "readme.md"}


def evidence_placement_problems(items: list[McqItem], docs: dict[str, str]) -> list[str]:
    problems = []
    for it in items:
        hits = [name for name, text in docs.items() if it.clean_evidence in text]
        if len(hits) != 1:
            problems.append(f"{it.id}: clean evidence found verbatim in {len(hits)} corpus "
                            f"documents {hits}, expected exactly 1")
        leaks = [name for name, text in docs.items() if it.conflict_evidence in text]
        if leaks:
            problems.append(f"{it.id}: conflict evidence is in the corpus ({leaks})")
    return problems


def corpus_problems(docs: dict[str, str], items: list[McqItem]) -> list[str]:
    problems = []
    if len(docs) < MIN_CORPUS_DOCS:
        problems.append(f"{len(docs)} corpus documents, need at least {MIN_CORPUS_DOCS}")
    for name, text in docs.items():
        lines = text.splitlines()
        if not lines or not re.match(r"^# \S", lines[0]):
            problems.append(f"{name}: first line is not a '# Title' line")
            continue
        words = len(" ".join(lines[1:]).split())
        if not 60 <= words <= 200:
            problems.append(f"{name}: {words} words, expected 60-200")
    distractors = [name for name, text in docs.items()
                   if not any(it.clean_evidence in text for it in items)]
    if len(distractors) < MIN_DISTRACTORS:
        problems.append(f"{len(distractors)} distractor documents, need {MIN_DISTRACTORS}")
    return problems


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def suite():
    return load_suite(SUITE_DIR)


@pytest.fixture(scope="module")
def items(suite) -> list[McqItem]:
    return suite.mcq_items()


@pytest.fixture(scope="module")
def docs() -> dict[str, str]:
    return corpus_documents(CORPUS_DIR)


# ---------------------------------------------------------------- the real assets

def test_suite_loads_and_is_marked_demonstration(suite):
    assert suite.id == "demo-radiology-mcq"
    assert suite.manifest.demonstration is True
    assert "not a validated clinical benchmark" in suite.manifest.source
    assert all(isinstance(it, McqItem) for it in suite.items)
    assert len(suite.active_items()) == len(suite.items)


def test_counts_meet_minimums(items):
    assert count_problems(items) == []


def test_answer_positions_balanced(items):
    assert position_problems(items) == []


def test_every_item_has_evidence_and_labelled_wrong_options(items):
    problems = [p for it in items for p in item_problems(it)]
    assert problems == []


def test_most_items_label_a_dangerous_option(items):
    dangerous = [it for it in items
                 if any(SAFETY_LABELS & set(v) for v in it.option_labels.values())]
    assert len(dangerous) >= 0.75 * len(items)
    assert sum(1 for it in items
               for v in it.option_labels.values() if "high_risk" in v) >= len(items) // 2


def test_clean_evidence_in_exactly_one_corpus_document(items, docs):
    assert evidence_placement_problems(items, docs) == []


def test_corpus_size_titles_and_distractors(items, docs):
    assert corpus_problems(docs, items) == []


def test_corpus_readme_says_what_it_is():
    text = (CORPUS_DIR / "README.md").read_text(encoding="utf-8").lower()
    assert "demonstration" in text and "not a validated" in text


# ---------------------------------------------------------------- the checks can fail

def _mutated(it: McqItem, **changes) -> McqItem:
    return it.model_copy(update=changes)


def test_checks_catch_broken_content(items, docs):
    first = items[0]
    wrong = next(k for k in first.options if k != first.answer)

    assert count_problems(items[:10])
    assert count_problems([it for it in items if it.topic != "breast"])
    assert position_problems([_mutated(it, answer="A") for it in items])

    labelled_answer = _mutated(first, option_labels={first.answer: ["high_risk"]})
    assert any("right answer" in p for p in item_problems(labelled_answer))
    assert any("no labelled wrong option" in p for p in item_problems(labelled_answer))
    assert item_problems(_mutated(first, conflict_evidence=""))
    assert item_problems(_mutated(first, id="neuro1"))
    assert not item_problems(_mutated(first, option_labels={wrong: ["unsafe"]}))

    assert evidence_placement_problems([_mutated(first, clean_evidence="not in any note")], docs)
    doubled = dict(docs, **{"copy.md": next(t for t in docs.values()
                                             if first.clean_evidence in t)})
    assert evidence_placement_problems([first], doubled)
    leaked = dict(docs, **{"leak.md": "# Leak\n\n" + first.conflict_evidence})
    assert evidence_placement_problems([first], leaked)

    untitled = dict(docs, **{"untitled.md": "no title line\n" + "word " * 80})
    assert corpus_problems(untitled, items)
    assert corpus_problems(dict(list(docs.items())[:30]), items)
