"""Triage: the reviewer queue ranks items by contention signals from stored runs."""
from __future__ import annotations

import pytest

from engine.store.db import CallRecord
from engine.stewardship import item_view, triage_queue
from engine.stewardship.answers import runs_using_suite
from tests.test_stewardship_data import MODELS, RUN_ID, SUITE_ID, build


@pytest.fixture
def fixture(workspace):
    store, suite = build(workspace)
    yield store, suite
    store.close()


def test_wrong_key_item_tops_the_queue(fixture):
    store, suite = fixture
    queue = triage_queue(store, suite)
    top = queue[0]
    assert top.item_id == "q2" and not top.audit_sample and top.rank == 1
    assert top.reference == "B"
    by_kind = {s.kind: s for s in top.signals}
    assert by_kind["consensus_other"].strength == 1.0
    assert "3 of 3 models answer C rather than the key B" in by_kind["consensus_other"].explanation
    # 3 models × (closed_book + clean_evidence), all choosing C at ≥ 0.88.
    assert by_kind["confident_disagreement"].strength == 1.0
    assert top.score == 1.0
    assert all(0.0 <= s.strength <= 1.0 for e in queue for s in e.signals)
    assert [e.score for e in queue if not e.audit_sample] == sorted(
        (e.score for e in queue if not e.audit_sample), reverse=True)


def test_conflict_evidence_and_compute_variants_are_not_evidence_against_the_key(fixture):
    store, suite = fixture
    contested = {e.item_id for e in triage_queue(store, suite, audit_sample=0)}
    # q4: every model picks C at 0.95 under conflict_evidence only; q1: a permutation
    # variant picks D at 0.99. Neither makes the item contested.
    assert "q4" not in contested and "q1" not in contested
    view = item_view(store, suite, "q1")
    assert len(view.answers) == len(MODELS) * 3
    assert {a.chosen for a in view.answers} == {"A"}


def test_clean_evidence_moving_models_away_from_the_key_is_a_signal(fixture):
    store, suite = fixture
    queue = triage_queue(store, suite, audit_sample=0, min_score=0.0)
    q4 = next(e for e in queue if e.item_id == "q4")
    (signal,) = q4.signals
    assert signal.kind == "evidence_shift"
    # m1: P(D) 0.7 closed_book -> 0.4/3 clean_evidence; m2, m3 unchanged; mean over 3 pairs.
    assert signal.strength == pytest.approx((0.7 - 0.4 / 3) / 3, abs=1e-4)
    assert "1 switch away from the key D" in signal.explanation


def test_judge_disagreement_on_open_items(fixture, workspace):
    store, suite = fixture
    o1 = next(e for e in triage_queue(store, suite) if e.item_id == "o1")
    assert not o1.audit_sample
    (signal,) = o1.signals
    assert signal.kind == "judges_split" and signal.strength == pytest.approx(1 / 3, abs=1e-4)
    # A second run where every model's answer to o2 (expected comply) is judged a refusal.
    store.create_run("run-2", profile="test", operator="tests", config={}, environment={})
    for model in MODELS:
        call_id = store.record_call(CallRecord(
            run_id="run-2", model=model, suite_id=SUITE_ID, suite_version="1.0.0",
            item_id="o2", condition="closed_book", kind="open", prompt_text="o2",
            output_text="I cannot help with that."))
        store.record_judgment(call_id, "rule-based", "refuse")
    view = item_view(store, suite, "o2", run_ids=["run-2"])
    (signal,) = view.signals
    assert signal.kind == "judged_against_expected" and signal.strength == 1.0
    assert "judged refuse; the item expects comply" in signal.explanation


def test_audit_sample_is_seeded_flagged_and_survives_the_limit(fixture):
    store, suite = fixture
    first = triage_queue(store, suite, limit=1, audit_sample=3, seed=7)
    again = triage_queue(store, suite, limit=1, audit_sample=3, seed=7)
    assert [e.item_id for e in first] == [e.item_id for e in again]
    assert first[0].item_id == "q2" and not first[0].audit_sample
    audit = [e for e in first if e.audit_sample]
    assert len(audit) == 3 and len(first) == 4
    contested = {e.item_id for e in triage_queue(store, suite, audit_sample=0)}
    assert contested == {"q2", "o1"}
    assert not {e.item_id for e in audit} & contested
    samples = {tuple(e.item_id for e in triage_queue(store, suite, audit_sample=3, seed=s)
                     if e.audit_sample) for s in range(10)}
    assert len(samples) > 1, "the seed must change the sample"
    assert not [e for e in triage_queue(store, suite, audit_sample=0) if e.audit_sample]


def test_default_runs_are_those_that_used_the_suite(fixture):
    store, suite = fixture
    store.create_run("other", profile="test", operator="tests", config={}, environment={})
    store.record_call(CallRecord(run_id="other", model="m1", suite_id="another-suite",
                                 suite_version="1.0.0", item_id="q2", condition="closed_book",
                                 kind="mcq", prompt_text="x", chosen="A", confidence=0.99))
    assert runs_using_suite(store, SUITE_ID) == [RUN_ID]
    assert triage_queue(store, suite, run_ids=[], audit_sample=0) == []


def test_retired_items_leave_the_queue(fixture, workspace):
    store, suite = fixture
    retired = suite.model_copy(update={"items": [
        it.model_copy(update={"retired": True}) if it.id == "q2" else it for it in suite.items]})
    assert "q2" not in {e.item_id for e in triage_queue(store, retired, audit_sample=10)}


# -- position bias -----------------------------------------------------------------------
BIASED = ("small-1", "small-2")      # answer C on almost everything
STEADY = "steady"                    # answers the key, except on the disputed item
DISPUTED = "p05"                     # key A; every model answers D at high confidence


def _position_store(workspace):
    """12 items with keys A B C D A B C D…, so C is the key on 25% of them."""
    from engine.store.db import ResultsStore
    from engine.suites.io import write_suite
    from engine.suites.schema import McqItem
    from tests.test_stewardship_data import OPTIONS, probs_for

    keys = {f"p{i:02d}": "ABCD"[(i - 1) % 4] for i in range(1, 13)}
    suite = write_suite(workspace.suites_dir / "position-mini", id="position-mini",
                        name="position bias (test)", version="1.0.0", license="test-only",
                        source="written by the triage tests",
                        items=[McqItem(id=i, question=f"Question {i}?", options=OPTIONS,
                                       answer=k, topic="chest") for i, k in keys.items()])
    store = ResultsStore(workspace.db_path)
    store.create_run("run-bias", profile="test", operator="tests", config={}, environment={})
    for model in (*BIASED, STEADY):
        for condition in ("closed_book", "clean_evidence"):
            for item_id, key in keys.items():
                if item_id == DISPUTED:
                    chosen = "D"
                else:
                    chosen = "C" if model in BIASED else key
                store.record_call(CallRecord(
                    run_id="run-bias", model=model, suite_id="position-mini",
                    suite_version="1.0.0", item_id=item_id, condition=condition, kind="mcq",
                    prompt_text=f"{condition}:{item_id}", chosen=chosen, confidence=0.9,
                    option_probs=probs_for(chosen, 0.9)))
    return store, suite, keys


def test_consensus_on_a_models_dominant_letter_is_not_contested(workspace):
    from engine.stewardship.answers import stored_answers
    from engine.stewardship.position import dominant_positions
    from engine.stewardship.signals import mcq_signals
    from engine.stewardship.triage import explain_score, position_biases, queue_explanation

    store, suite, keys = _position_store(workspace)
    try:
        biases = position_biases(store, suite)
        assert [(b.model, b.letter) for b in biases] == [(m, "C") for m in BIASED]
        assert biases[0].share == pytest.approx(22 / 24, abs=1e-4)     # 11 of 12, twice
        assert biases[0].key_share == pytest.approx(6 / 24, abs=1e-4)
        assert "small-1 picks C on 92% of its 24 answers" in biases[0].describe()

        queue = triage_queue(store, suite, audit_sample=0)
        # Before the discount the two small models "agreed" on C against 8 keys (+ p05).
        answers = stored_answers(store, suite.id, ["run-bias"])
        naive = {i for i, k in keys.items()
                 if mcq_signals(suite.item(i), answers[i], 0.8)}
        assert len(naive) == 9
        assert [e.item_id for e in queue] == [DISPUTED]
        (top,) = queue
        by_kind = {s.kind: s for s in top.signals}
        assert "3 of 3 models answer D rather than the key A" in \
            by_kind["consensus_other"].explanation
        assert top.score == 1.0
        assert explain_score(top.signals).startswith(
            "score 1.00: models agree on another answer than the key (strength 1.00) adds 1.00")

        # an unbiased model's answers still count, and the note says what was set aside
        view = item_view(store, suite, "p02")
        assert view.signals == [] and view.score == 0.0
        assert dominant_positions({}, answers) == {}          # no keys: no habit measured
        text = queue_explanation(biases)
        assert "more than 50%" in text and "small-2 picks C" in text
    finally:
        store.close()


def test_answers_set_aside_as_position_bias_are_named(workspace):
    """A model without the habit, agreeing with a biased one, still makes the item contested
    and the signal names the answers that were not counted."""
    store, suite, _ = _position_store(workspace)
    try:
        for condition in ("closed_book", "clean_evidence"):
            store.record_call(CallRecord(
                run_id="run-bias", model="other", suite_id="position-mini",
                suite_version="1.0.0", item_id="p02", condition=condition, kind="mcq",
                prompt_text=f"{condition}:p02", chosen="C", confidence=0.95))
        (entry,) = [e for e in triage_queue(store, suite, audit_sample=0) if e.item_id == "p02"]
        (signal,) = entry.signals
        assert signal.kind == "confident_disagreement"
        assert "2 of 8 answers pick another option" in signal.explanation
        assert "not counted: 4 answer(s) on the model's dominant letter (small-1 C, small-2 C)" \
            in signal.explanation
    finally:
        store.close()
