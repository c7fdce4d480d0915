"""Checking the review record: the audit chain itself, and the reviews table against it.

The hash chain catches an edited or removed audit entry. But the engine acts on
the `reviews` table, which an attacker could edit instead (turn a rejected key
change into a confirmed one, change the proposed letter). So the table is
replayed from the log — decide, confirm/reject, apply — and any row that the
log does not account for is reported, naming the review and the entry.
"""
from __future__ import annotations

import json
from typing import Any

from engine.stewardship.review import (ACTION_APPLY, ACTION_CONFIRM, ACTION_DECIDE,
                                       ACTION_REJECT)
from engine.store.db import ResultsStore
from engine.store.reviews import review_rows

_COMPARED = ("suite_id", "suite_version", "item_id", "reviewer", "role", "decision", "payload",
             "rationale", "status", "second_reviewer", "second_role", "second_rationale",
             "applied_version")


def _replay(entries: list[dict[str, Any]]) -> tuple[dict[int, dict[str, Any]], dict[int, int],
                                                     list[str]]:
    """review id -> expected row state, review id -> seq of its decide entry, problems."""
    state: dict[int, dict[str, Any]] = {}
    origin: dict[int, int] = {}
    problems: list[str] = []
    for e in entries:
        action = e["action"]
        if not action.startswith("review."):
            continue
        try:
            p = json.loads(e["payload_json"])
        except ValueError:
            problems.append(f"entry {e['seq']}: payload is not valid JSON")
            continue
        if action == ACTION_DECIDE:
            rid = int(p["review_id"])
            origin[rid] = e["seq"]
            state[rid] = {"suite_id": p["suite_id"], "suite_version": p["suite_version"],
                          "item_id": p["item_id"], "reviewer": e["actor"], "role": p["role"],
                          "decision": p["decision"], "payload": p["payload"],
                          "rationale": p["rationale"], "status": p["status"],
                          "second_reviewer": None, "second_role": None,
                          "second_rationale": None, "applied_version": None}
        elif action in (ACTION_CONFIRM, ACTION_REJECT):
            rid = int(p["review_id"])
            if rid not in state:
                problems.append(f"entry {e['seq']}: {action} of review #{rid}, which no "
                                f"earlier entry proposed")
                continue
            if state[rid]["status"] != "proposed" or e["actor"].casefold() == \
                    state[rid]["reviewer"].casefold():
                problems.append(f"entry {e['seq']}: {action} of review #{rid} breaks the "
                                f"two-person rule or follows a final decision")
            state[rid].update(status="confirmed" if action == ACTION_CONFIRM else "rejected",
                              second_reviewer=e["actor"], second_role=p["role"],
                              second_rationale=p["rationale"])
        elif action == ACTION_APPLY:
            for rid in p.get("review_ids", []):
                if rid not in state or state[rid]["status"] != "confirmed":
                    problems.append(f"entry {e['seq']}: applies review #{rid}, which was not "
                                    f"confirmed")
                    continue
                state[rid].update(status="applied", applied_version=p["to_version"])
    return state, origin, problems


def verify_log(store: ResultsStore) -> list[str]:
    """Every problem with the audit chain or the reviews table; empty means both hold."""
    entries = store.audit_entries()
    problems = list(store.verify_audit_log())
    expected, origin, replay_problems = _replay(entries)
    problems.extend(replay_problems)
    rows = {int(r["id"]): dict(r) for r in review_rows(store)}
    for rid, row in rows.items():
        row["payload"] = json.loads(row.pop("payload_json"))
        want = expected.get(rid)
        if want is None:
            problems.append(f"review #{rid} (item {row['item_id']}): no audit entry records "
                            f"it (added to the reviews table outside SafeVet)")
            continue
        diff = [k for k in _COMPARED if row.get(k) != want.get(k)]
        if diff:
            problems.append(f"review #{rid} (item {row['item_id']}): {', '.join(diff)} "
                            f"differ(s) from audit entry {origin[rid]} and the entries after "
                            f"it (the reviews table was edited)")
    for rid in sorted(set(expected) - set(rows)):
        problems.append(f"entry {origin[rid]}: records review #{rid}, which is missing from "
                        f"the reviews table (deleted)")
    return problems
