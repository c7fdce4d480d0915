"""Model lineage: a candidate registered as a version of another.

Hospitals vet a model over alignment cycles (evaluate, collect safety failures,
align with KTO or DPO, evaluate the next version), so a committee asks "is
version 2 safer than version 1, and what did it cost?". The registry records
each version's parent and the operator's note; the order of a lineage is the
order of its cycles: the first version, then each version after its parent,
siblings (two alignments of one parent) in the order they were registered.

Stored in the workspace's results store (model_lineage table), not in the model
manifest: the manifest's file hashes identify the bytes that were run, and
recording a lineage must not change them.
"""
from __future__ import annotations

from pydantic import BaseModel

from engine.errors import NotFoundError, SafeVetError
from engine.models.manifest import check_name
from engine.models.registry import get_manifest, has_model
from engine.store.db import ResultsStore
from engine.store.lineage import LineageRecord, forget_lineage, lineage_records, record_lineage
from engine.workspace import Workspace

MAX_NOTE_CHARS = 500


class LineageEntry(BaseModel):
    """One version in a lineage, as `models list/show` and comparisons show it."""

    name: str
    parent: str | None = None
    note: str = ""
    cycle: int = 0                 # 0 for the first version, parent's cycle + 1 after it
    registered_at: str = ""
    registered: bool = True        # False: named as a parent but no longer in the workspace


def _store(ws: Workspace) -> ResultsStore:
    return ResultsStore(ws.db_path)


def check_version_of(ws: Workspace, parent: str) -> None:
    """Refuse a --version-of that names no registered model (before any slow import)."""
    check_name(parent)
    if not has_model(ws, parent):
        get_manifest(ws, parent)  # raises NotFoundError listing the registered models


def _clean_note(note: str) -> str:
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE_CHARS:
        raise SafeVetError(f"--note is {len(note)} characters; keep it under "
                           f"{MAX_NOTE_CHARS} (it is a label for a cycle, not a changelog)")
    return note


def set_version_of(ws: Workspace, name: str, parent: str | None, note: str = "") -> LineageEntry:
    """Record `name` as a version of `parent` (None: the first version), with a note.

    Both must be registered models, and the link may not close a loop (a model that
    is, through its parents, a version of itself has no first cycle).
    """
    get_manifest(ws, name)
    note = _clean_note(note)
    store = _store(ws)
    try:
        if parent is not None:
            check_version_of(ws, parent)
            if parent == name:
                raise SafeVetError(f"model {name} cannot be a version of itself")
            parents = {r.name: r.parent for r in lineage_records(store)}
            seen, at = {name}, parent
            while at is not None:
                if at in seen:
                    raise SafeVetError(f"recording {name} as a version of {parent} would make "
                                       f"a loop in the lineage ({at} is already a version of "
                                       f"{name})")
                seen.add(at)
                at = parents.get(at)
        record_lineage(store, name, parent, note)
        return next(e for e in _ordered(lineage_records(store), ws) if e.name == name)
    finally:
        store.close()


def forget(ws: Workspace, name: str) -> None:
    """Drop a removed model's own lineage record (only if a store exists already)."""
    if not ws.db_path.exists():
        return
    store = _store(ws)
    try:
        forget_lineage(store, name)
    finally:
        store.close()


def _ordered(records: list[LineageRecord], ws: Workspace | None) -> list[LineageEntry]:
    """Every recorded model, lineage by lineage: each root, then depth-first its
    versions, siblings by registration order. A parent that is only named (removed
    from the workspace, or never given a record) becomes a root entry of its own."""
    by_name = {r.name: r for r in records}
    children: dict[str | None, list[LineageRecord]] = {}
    for r in records:
        children.setdefault(r.parent, []).append(r)
    out: list[LineageEntry] = []

    def walk(name: str, depth: int) -> None:
        for child in children.get(name, []):
            out.append(LineageEntry(name=child.name, parent=child.parent, note=child.note,
                                    cycle=depth, registered_at=child.created_at,
                                    registered=ws is None or has_model(ws, child.name)))
            walk(child.name, depth + 1)

    for root in children.get(None, []):
        out.append(LineageEntry(name=root.name, note=root.note, cycle=0,
                                registered_at=root.created_at,
                                registered=ws is None or has_model(ws, root.name)))
        walk(root.name, 1)
    for missing in sorted({r.parent for r in records
                           if r.parent is not None and r.parent not in by_name}):
        out.append(LineageEntry(name=missing, cycle=0,
                                registered=ws is not None and has_model(ws, missing)))
        walk(missing, 1)
    return out


def all_lineages(ws: Workspace) -> list[LineageEntry]:
    """Every recorded version, in lineage order (empty when nothing was recorded)."""
    if not ws.db_path.exists():
        return []
    store = _store(ws)
    try:
        return _ordered(lineage_records(store), ws)
    finally:
        store.close()


def lineage_entry(ws: Workspace, name: str) -> LineageEntry | None:
    """`name`'s own entry, or None when it was never registered as a version."""
    return next((e for e in all_lineages(ws) if e.name == name), None)


def lineage_of(ws: Workspace, name: str) -> list[LineageEntry]:
    """The whole lineage `name` belongs to (root first, in cycle order); [] if none."""
    entries = all_lineages(ws)
    parent = {e.name: e.parent for e in entries}
    if name not in parent:
        return []
    root = name
    while parent.get(root) is not None:
        root = parent[root]  # type: ignore[assignment]

    def root_of(n: str) -> str:
        while parent.get(n) is not None:
            n = parent[n]  # type: ignore[assignment]
        return n

    return [e for e in entries if root_of(e.name) == root]


def require_lineage(ws: Workspace, name: str) -> list[LineageEntry]:
    """Like lineage_of, but a model with no recorded lineage is an error naming the fix."""
    entries = lineage_of(ws, name)
    if not entries:
        raise NotFoundError(f"model {name!r} has no recorded lineage; register a version with "
                            f"`safevet models import ... --version-of {name}`")
    return entries
