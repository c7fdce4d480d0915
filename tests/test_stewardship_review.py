"""Review decisions: rationale required, payloads checked, two-person rule for key changes."""
from __future__ import annotations

import json

import pytest

from engine.errors import NotFoundError, SafeVetError
from engine.stewardship import (DecisionError, ReviewPolicy, confirm, decide, get_decision,
                                list_decisions, reject, verify_log)
from tests.test_stewardship_data import build


@pytest.fixture
def fixture(workspace):
    store, suite = build(workspace)
    yield store, suite
    store.close()


@pytest.mark.parametrize("rationale", ["", "   "])
def test_decision_without_rationale_is_refused_and_leaves_no_trace(fixture, rationale):
    store, suite = fixture
    with pytest.raises(SafeVetError, match="rationale"):
        decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"},
               rationale)
    assert list_decisions(store, suite.id) == []
    assert store.audit_entries() == []


def test_same_reviewer_cannot_confirm_their_own_key_change(fixture):
    store, suite = fixture
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"},
               "ACR guideline: C is the first-line answer")
    assert d.status == "proposed" and d.needs_confirmation
    assert d.reviewer == "Dr Ada" and d.role == "radiologist"
    for same in ("Dr Ada", " dr ada "):
        with pytest.raises(DecisionError, match="different reviewer"):
            confirm(store, d.id, same, "radiologist", "agreed")
    assert get_decision(store, d.id).status == "proposed"
    done = confirm(store, d.id, "Dr Ben", "neuroradiologist", "agreed on re-reading")
    assert done.status == "confirmed"
    assert (done.second_reviewer, done.second_role) == ("Dr Ben", "neuroradiologist")
    with pytest.raises(DecisionError, match="only a proposed decision"):
        confirm(store, d.id, "Dr Cy", "radiologist", "me too")
    entries = store.audit_entries()
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("Dr Ada", "review.decide"), ("Dr Ben", "review.confirm")]
    assert json.loads(entries[0]["payload_json"])["payload"] == {"answer": "C"}
    assert verify_log(store) == []


def test_confirmation_needs_its_own_rationale(fixture):
    store, suite = fixture
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"}, "why")
    with pytest.raises(DecisionError, match="rationale"):
        confirm(store, d.id, "Dr Ben", "radiologist", "")


def test_rejected_decision_stays_rejected(fixture):
    store, suite = fixture
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "A"}, "why")
    assert reject(store, d.id, "Dr Ben", "radiologist", "A is contraindicated").status == "rejected"
    with pytest.raises(DecisionError):
        confirm(store, d.id, "Dr Cy", "radiologist", "overrule")
    assert verify_log(store) == []


@pytest.mark.parametrize("item_id,decision,payload,message", [
    ("q2", "change_key", {"answer": "E"}, "not an offered option"),
    ("q2", "change_key", {"answer": "B"}, "already the key"),
    ("q2", "change_key", {}, "missing field"),
    ("q2", "change_key", {"answer": "D"}, "would carry the label"),   # D is high_risk
    ("q2", "change_labels", {"option_labels": {"A": ["wrong_label"]}}, "unknown label"),
    ("q2", "change_labels", {"option_labels": {"F": ["high_risk"]}}, "names option 'F'"),
    ("q2", "change_labels", {"option_labels": {"B": ["unsafe"]}}, "would carry the label"),
    ("q2", "change_labels", {"option_labels": {"D": ["high_risk", "unsafe"]}}, "changes nothing"),
    ("q2", "edit_evidence", {}, "at least one"),
    ("q2", "edit_evidence", {"clean_evidence": "  "}, "non-empty"),
    ("q2", "retire", {"answer": "C"}, "unexpected field"),
    ("q2", "promote", {}, "unknown decision"),
    ("o1", "change_key", {"expected": "maybe"}, "expected must be one of"),
    ("o1", "change_key", {"answer": "A"}, "unexpected field"),
    ("o1", "change_labels", {"harm_level": 7}, "harm_level must be 0-3"),
])
def test_payload_is_validated_against_the_item(fixture, item_id, decision, payload, message):
    store, suite = fixture
    with pytest.raises(DecisionError, match=message):
        decide(store, suite, item_id, "Dr Ada", "radiologist", decision, payload, "because")
    assert list_decisions(store, suite.id) == []


def test_unknown_item_is_refused(fixture):
    store, suite = fixture
    with pytest.raises(NotFoundError, match="q99"):
        decide(store, suite, "q99", "Dr Ada", "radiologist", "keep", {}, "because")


def test_valid_payloads_are_normalised(fixture):
    store, suite = fixture
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key",
               {"answer": "d", "option_labels": {"D": [], "B": ["unsafe", "high_risk"]}},
               "D is right once the labels are fixed")
    assert d.payload == {"answer": "D", "option_labels": {"B": ["high_risk", "unsafe"]}}
    e = decide(store, suite, "o1", "Dr Ada", "pharmacist", "change_key", {"expected": "Caution"},
               "a cautious answer is acceptable")
    assert e.payload == {"expected": "caution"} and e.status == "proposed"


def test_non_key_decisions_need_no_second_reviewer(fixture):
    store, suite = fixture
    for decision, payload in (("keep", {}), ("retire", {}),
                              ("edit_evidence", {"clean_evidence": "Better evidence."}),
                              ("change_labels", {"option_labels": {"A": ["unsafe"]}})):
        d = decide(store, suite, "q3", "Dr Ada", "radiologist", decision, payload, "reason")
        assert d.status == "confirmed", decision


def test_two_person_rule_is_configurable_per_workspace(fixture, workspace):
    store, suite = fixture
    assert ReviewPolicy.load(workspace.home).requires_confirmation("change_key")
    (workspace.home / "stewardship.json").write_text(json.dumps({"two_person_rule": False}))
    policy = ReviewPolicy.load(workspace.home)
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"},
               "single-reviewer site", policy=policy)
    assert d.status == "confirmed"
    assert json.loads(store.audit_entries()[-1]["payload_json"])["two_person_rule"] is False
    (workspace.home / "stewardship.json").write_text("{not json")
    with pytest.raises(SafeVetError, match="stewardship policy"):
        ReviewPolicy.load(workspace.home)
