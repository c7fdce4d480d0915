"""Clinician decisions on suite items, with the two-person rule for key changes.

A decision is a row in the `reviews` table *and* an entry in the hash-chained
audit log. The table is what the engine works from (it changes status as a
decision is confirmed and applied); the log is what proves the table was not
edited behind the reviewers' backs — `verify_log` cross-checks the two, and
`apply_decisions` refuses to write a version while they disagree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from engine.errors import NotFoundError, SafeVetError
from engine.stewardship.changes import DecisionError, DecisionKind, normalise_payload
from engine.store.db import ResultsStore, utc_now
from engine.store import reviews
from engine.suites.schema import Suite

ReviewStatus = Literal["proposed", "confirmed", "rejected", "applied"]
POLICY_FILE = "stewardship.json"

ACTION_DECIDE = "review.decide"
ACTION_CONFIRM = "review.confirm"
ACTION_REJECT = "review.reject"
ACTION_APPLY = "review.apply"


@dataclass(frozen=True)
class ReviewPolicy:
    """Which decisions need a second, different reviewer before they can be applied.

    Set per workspace by whoever governs the suites (a `stewardship.json` in the
    workspace), not per decision: a reviewer must not be able to waive the rule
    for their own change.
    """

    two_person_rule: bool = True
    needs_second_reviewer: frozenset[str] = field(default_factory=lambda: frozenset({"change_key"}))

    def requires_confirmation(self, decision: str) -> bool:
        return self.two_person_rule and decision in self.needs_second_reviewer

    @classmethod
    def load(cls, home: str | Path) -> "ReviewPolicy":
        path = Path(home) / POLICY_FILE
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(two_person_rule=bool(data.get("two_person_rule", True)),
                       needs_second_reviewer=frozenset(
                           data.get("needs_second_reviewer", ["change_key"])))
        except (ValueError, TypeError, AttributeError) as exc:
            raise SafeVetError(f"{path}: not a valid stewardship policy ({exc})") from exc


class Decision(BaseModel):
    """A reviewer's decision on one item of one suite version, and where it went."""

    id: int
    suite_id: str
    suite_version: str
    item_id: str
    reviewer: str
    role: str
    decision: DecisionKind
    payload: dict[str, Any]
    rationale: str
    status: ReviewStatus
    created_at: str
    second_reviewer: str | None = None
    second_role: str | None = None
    second_rationale: str | None = None
    second_at: str | None = None
    applied_version: str | None = None

    @property
    def needs_confirmation(self) -> bool:
        return self.status == "proposed"


def _decision_from_row(row) -> Decision:
    d = dict(row)
    d["payload"] = json.loads(d.pop("payload_json"))
    return Decision.model_validate(d)


def _required(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DecisionError(f"{what} is required")
    return value


def decide(store: ResultsStore, suite: Suite, item_id: str, reviewer: str, role: str,
           decision: str, payload: dict[str, Any] | None, rationale: str, *,
           policy: ReviewPolicy | None = None) -> Decision:
    """Record a reviewer's decision on an item of this suite version.

    The rationale is required: a label change nobody can explain is how the
    wrong labels got there in the first place.
    """
    policy = policy or ReviewPolicy()
    reviewer = _required(reviewer, "reviewer name")
    role = _required(role, "reviewer role")
    rationale = _required(rationale, "a rationale for the decision")
    try:
        item = suite.item(item_id)
    except KeyError:
        raise NotFoundError(f"item {item_id!r} is not in suite {suite.id} {suite.version}") \
            from None
    payload = normalise_payload(item, decision, payload)
    status = "proposed" if policy.requires_confirmation(decision) else "confirmed"
    now = utc_now()
    review_id = reviews.insert_review(
        store, suite_id=suite.id, suite_version=suite.version, item_id=item_id,
        reviewer=reviewer, role=role, decision=decision, payload=payload, rationale=rationale,
        status=status, created_at=now)
    try:
        store.append_audit(reviewer, ACTION_DECIDE, {
            "review_id": review_id, "suite_id": suite.id, "suite_version": suite.version,
            "items_sha256": suite.manifest.items_sha256, "item_id": item_id, "role": role,
            "decision": decision, "payload": payload, "rationale": rationale,
            "status": status, "two_person_rule": policy.two_person_rule})
    except BaseException:
        # A decision that is not in the audit log must not exist at all.
        reviews.delete_review(store, review_id)
        raise
    return get_decision(store, review_id)


def _second_review(store: ResultsStore, review_id: int, reviewer: str, role: str,
                   rationale: str, *, confirm: bool) -> Decision:
    verb = "confirm" if confirm else "reject"
    reviewer = _required(reviewer, "reviewer name")
    role = _required(role, "reviewer role")
    rationale = _required(rationale, f"a rationale to {verb} the decision")
    current = get_decision(store, review_id)
    if current.status != "proposed":
        raise DecisionError(f"review #{review_id} is {current.status}; only a proposed decision "
                            f"can be {verb}ed")
    if reviewer.casefold() == current.reviewer.casefold():
        raise DecisionError(f"review #{review_id} was proposed by {current.reviewer}; a "
                            f"different reviewer must {verb} it (two-person rule)")
    status = "confirmed" if confirm else "rejected"
    now = utc_now()
    if not reviews.second_review(store, review_id, status=status, reviewer=reviewer, role=role,
                                 rationale=rationale, at=now):
        raise DecisionError(f"review #{review_id} changed while it was being {verb}ed; retry")
    store.append_audit(reviewer, ACTION_CONFIRM if confirm else ACTION_REJECT, {
        "review_id": review_id, "suite_id": current.suite_id,
        "suite_version": current.suite_version, "item_id": current.item_id, "role": role,
        "rationale": rationale, "decision": current.decision, "payload": current.payload,
        "proposed_by": current.reviewer})
    return get_decision(store, review_id)


def confirm(store: ResultsStore, review_id: int, reviewer: str, role: str,
            rationale: str) -> Decision:
    """A second reviewer accepts a proposed decision; the proposer cannot."""
    return _second_review(store, review_id, reviewer, role, rationale, confirm=True)


def reject(store: ResultsStore, review_id: int, reviewer: str, role: str,
           rationale: str) -> Decision:
    """A second reviewer turns a proposed decision down; it will never be applied."""
    return _second_review(store, review_id, reviewer, role, rationale, confirm=False)


def get_decision(store: ResultsStore, review_id: int) -> Decision:
    row = reviews.review_row(store, review_id)
    if row is None:
        raise NotFoundError(f"review #{review_id} not found")
    return _decision_from_row(row)


def list_decisions(store: ResultsStore, suite_id: str, suite_version: str | None = None, *,
                   item_id: str | None = None,
                   status: ReviewStatus | None = None) -> list[Decision]:
    """Decisions on a suite, oldest first, optionally narrowed to a version, item or status."""
    return [_decision_from_row(r) for r in reviews.review_rows(
        store, suite_id, suite_version=suite_version, item_id=item_id, status=status)]
