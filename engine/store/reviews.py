"""The reviews table: label-stewardship decisions, read and written by name.

Stewardship decides *what* a decision is (engine/stewardship); this module is
the only place that knows how one is stored, so the results store exposes no
raw SQL to the rest of the engine.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from engine.store.db import ResultsStore


def insert_review(store: ResultsStore, *, suite_id: str, suite_version: str, item_id: str,
                  reviewer: str, role: str, decision: str, payload: dict[str, Any],
                  rationale: str, status: str, created_at: str) -> int:
    cur = store._execute(
        "INSERT INTO reviews (suite_id, suite_version, item_id, reviewer, role, decision, "
        "payload_json, rationale, status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (suite_id, suite_version, item_id, reviewer, role, decision,
         json.dumps(payload, sort_keys=True), rationale, status, created_at))
    return int(cur.lastrowid)  # type: ignore[arg-type]


def delete_review(store: ResultsStore, review_id: int) -> None:
    store._execute("DELETE FROM reviews WHERE id=?", (review_id,))


def second_review(store: ResultsStore, review_id: int, *, status: str, reviewer: str,
                  role: str, rationale: str, at: str) -> bool:
    """Confirm or reject a proposed decision; False if it was no longer proposed."""
    cur = store._execute(
        "UPDATE reviews SET status=?, second_reviewer=?, second_role=?, second_rationale=?, "
        "second_at=? WHERE id=? AND status='proposed'",
        (status, reviewer, role, rationale, at, review_id))
    return cur.rowcount == 1


def mark_applied(store: ResultsStore, review_ids: list[int], version: str) -> None:
    store._execute(
        f"UPDATE reviews SET status='applied', applied_version=? WHERE id IN "
        f"({','.join('?' * len(review_ids))})", (version, *review_ids))


def review_row(store: ResultsStore, review_id: int) -> sqlite3.Row | None:
    rows = store._query("SELECT * FROM reviews WHERE id=?", (review_id,))
    return rows[0] if rows else None


def review_rows(store: ResultsStore, suite_id: str | None = None, *,
                suite_version: str | None = None, item_id: str | None = None,
                status: str | None = None) -> list[sqlite3.Row]:
    """Decisions oldest first, narrowed by whichever filters are given."""
    sql, params = "SELECT * FROM reviews WHERE 1=1", []
    for column, value in (("suite_id", suite_id), ("suite_version", suite_version),
                          ("item_id", item_id), ("status", status)):
        if value is not None:
            sql += f" AND {column}=?"
            params.append(value)
    return store._query(sql + " ORDER BY id", tuple(params))


def runs_using_suite(store: ResultsStore, suite_id: str) -> list[str]:
    """Every run that stored at least one call for this suite id, oldest first."""
    rows = store._query(
        "SELECT c.run_id FROM calls c JOIN runs r ON r.id = c.run_id WHERE c.suite_id=? "
        "GROUP BY c.run_id ORDER BY MIN(r.created_at), c.run_id", (suite_id,))
    return [r["run_id"] for r in rows]
