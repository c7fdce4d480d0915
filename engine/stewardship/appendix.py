"""The stewardship appendix a report can include: what reviewers changed, who, and when.

A committee reading a score needs to know the suite it was scored against was
reviewed, by whom, and whether the review record itself is intact; so the
appendix carries the verification result next to the decisions.
"""
from __future__ import annotations

import json

from pydantic import BaseModel, Field

from engine.stewardship.impact import ImpactReport
from engine.stewardship.ledger import verify_log
from engine.stewardship.review import ACTION_APPLY, Decision, list_decisions
from engine.store.db import ResultsStore


class VersionRecord(BaseModel):
    """One version written by applying review decisions."""

    from_version: str
    to_version: str
    from_sha256: str
    to_sha256: str
    applied_by: str
    applied_at: str
    items: list[str]
    review_ids: list[int]


class StewardshipAppendix(BaseModel):
    suite_id: str
    versions: list[VersionRecord] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    items_changed: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)   # "name (role)", everyone who signed
    audit_log_intact: bool = True
    audit_problems: list[str] = Field(default_factory=list)
    impact: ImpactReport | None = None


def stewardship_appendix(store: ResultsStore, suite_id: str, *,
                         impact: ImpactReport | None = None) -> StewardshipAppendix:
    """Everything the review record says about one suite id, across its versions."""
    versions = []
    for e in store.audit_entries():
        if e["action"] != ACTION_APPLY:
            continue
        p = json.loads(e["payload_json"])
        if p.get("suite_id") != suite_id:
            continue
        versions.append(VersionRecord(
            from_version=p["from_version"], to_version=p["to_version"],
            from_sha256=p["from_sha256"], to_sha256=p["to_sha256"], applied_by=e["actor"],
            applied_at=e["ts"], items=p["items"], review_ids=p["review_ids"]))
    decisions = list_decisions(store, suite_id)
    people: list[str] = []
    for d in decisions:
        for name, role in ((d.reviewer, d.role), (d.second_reviewer, d.second_role)):
            if name and f"{name} ({role})" not in people:
                people.append(f"{name} ({role})")
    changed = sorted({i for v in versions for i in v.items})
    problems = verify_log(store)
    return StewardshipAppendix(suite_id=suite_id, versions=versions, decisions=decisions,
                               items_changed=changed, reviewers=people,
                               audit_log_intact=not problems, audit_problems=problems,
                               impact=impact)
