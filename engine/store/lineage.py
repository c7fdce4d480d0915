"""The model_lineage table: which candidate is a version of which, read and written by name.

The registry decides what a lineage *is* (engine.models.registry: both models must
exist, no loops); this module is the only place that knows how one is stored, like
engine/store/reviews.py for the review decisions.
"""
from __future__ import annotations

from pydantic import BaseModel

from engine.store.db import ResultsStore, utc_now


class LineageRecord(BaseModel):
    """One registered model's place in a lineage: its parent (None for a first version),
    the operator's note ("KTO cycle 2"), and when it was recorded."""

    seq: int
    name: str
    parent: str | None
    note: str
    created_at: str


def record_lineage(store: ResultsStore, name: str, parent: str | None, note: str) -> None:
    """Insert or replace the lineage of `name` (re-registering a model replaces it)."""
    store._execute(
        "INSERT INTO model_lineage (name, parent, note, created_at) VALUES (?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET parent=excluded.parent, note=excluded.note, "
        "created_at=excluded.created_at", (name, parent, note, utc_now()))


def lineage_records(store: ResultsStore) -> list[LineageRecord]:
    """Every lineage record, in registration order."""
    return [LineageRecord(**dict(r)) for r in store._query(
        "SELECT seq, name, parent, note, created_at FROM model_lineage ORDER BY seq")]


def forget_lineage(store: ResultsStore, name: str) -> None:
    """Drop `name`'s own record (a removed model); its children keep naming it as parent."""
    store._execute("DELETE FROM model_lineage WHERE name=?", (name,))
