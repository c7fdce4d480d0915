"""Applying accepted decisions: a new suite version, never an edited one.

Scores already reported were computed against a specific version and its hash;
changing that version in place would silently change what an old report means.
So accepted decisions land in a new minor version under the workspace's suites
folder (`<suites_dir>/<id>/<version>/`), the old folder stays loadable, and the
bundled suites in assets/ are never touched.
"""
from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

from engine.errors import IntegrityError, SafeVetError
from engine.stewardship.changes import apply_change, describe_change
from engine.stewardship.ledger import verify_log
from engine.stewardship.review import ACTION_APPLY, Decision, list_decisions
from engine.store.db import ResultsStore, utc_now
from engine.store.reviews import mark_applied
from engine.suites.io import write_suite
from engine.suites.schema import ChangelogEntry, Suite
from engine.workspace import Workspace

# Order in which one item's decisions are applied; retiring last keeps the others on record.
_ORDER = {"change_key": 0, "change_labels": 1, "edit_evidence": 2, "retire": 3, "keep": 4}


def bump_minor(version: str) -> str:
    major, minor, _ = (int(x) for x in version.split("."))
    return f"{major}.{minor + 1}.0"


def version_folder(ws: Workspace, suite_id: str, version: str) -> Path:
    return ws.suites_dir / suite_id / version


def _check_conflicts(by_item: dict[str, list[Decision]]) -> None:
    for item_id, decisions in by_item.items():
        seen: dict[str, Decision] = {}
        for d in decisions:
            if d.decision in seen and d.decision != "keep":
                raise SafeVetError(
                    f"item {item_id}: reviews #{seen[d.decision].id} and #{d.id} both make a "
                    f"{d.decision} decision; reject one of them before applying")
            seen[d.decision] = d
        if "keep" in seen and len(seen) > 1:
            others = ", ".join(f"#{d.id}" for d in decisions if d.decision != "keep")
            raise SafeVetError(f"item {item_id}: review #{seen['keep'].id} keeps it as is but "
                               f"{others} change(s) it; reject one side before applying")


def _who(d: Decision) -> str:
    text = f"decided by {d.reviewer} ({d.role})"
    if d.second_reviewer:
        text += f", confirmed by {d.second_reviewer} ({d.second_role})"
    return text


def apply_decisions(ws: Workspace, store: ResultsStore, suite: Suite, actor: str) -> Suite:
    """Write the next minor version with every confirmed decision on this version applied.

    Proposed decisions still awaiting their second reviewer are left for later.
    Refuses while the audit log or the reviews table fails verification.
    """
    actor = (actor or "").strip()
    if not actor:
        raise SafeVetError("applying decisions needs the name of who applies them")
    problems = verify_log(store)
    if problems:
        raise IntegrityError(f"the review record does not verify ({problems[0]}; "
                             f"{len(problems)} problem(s) in all, see `safevet review "
                             f"verify-log`); nothing applied")
    accepted = list_decisions(store, suite.id, suite.version, status="confirmed")
    pending = list_decisions(store, suite.id, suite.version, status="proposed")
    waiting = (f"; {len(pending)} decision(s) await a second reviewer "
               f"({', '.join(f'#{d.id}' for d in pending)})") if pending else ""
    changing = [d for d in accepted if d.decision != "keep"]
    if not changing:
        raise SafeVetError(f"no confirmed change to apply to {suite.id} {suite.version}{waiting}")
    by_item: dict[str, list[Decision]] = defaultdict(list)
    for d in sorted(accepted, key=lambda d: (_ORDER[d.decision], d.id)):
        by_item[d.item_id].append(d)
    _check_conflicts(by_item)

    new_version = bump_minor(suite.version)
    folder = version_folder(ws, suite.id, new_version)
    if folder.exists():
        raise SafeVetError(f"{suite.id} {new_version} already exists at {folder}; review the "
                           f"newest version of the suite instead of {suite.version}")
    today = date.today()
    items, entries, changed = [], [], []
    for item in suite.items:
        decisions = [d for d in by_item.get(item.id, []) if d.decision != "keep"]
        if not decisions:
            items.append(item)
            continue
        lines, new_item = [], item
        for d in decisions:
            lines.append(f"{describe_change(new_item, d.decision, d.payload)} (review #{d.id}, "
                         f"{_who(d)}: {d.rationale})")
            new_item = apply_change(new_item, d.decision, d.payload)
        items.append(new_item)
        changed.append(item.id)
        authors = ", ".join(dict.fromkeys(d.reviewer for d in decisions))
        entries.append(ChangelogEntry(version=new_version, date=today, items=[item.id],
                                      author=authors,
                                      summary=f"{item.id}: " + "; ".join(lines)))
    summary = ChangelogEntry(
        version=new_version, date=today, items=changed, author=actor,
        summary=f"clinician review of {suite.version}: {len(changed)} item(s) changed, "
                f"applied by {actor}")
    m = suite.manifest
    new_suite = write_suite(folder, id=m.id, name=m.name, version=new_version, items=items,
                            license=m.license, source=m.source, description=m.description,
                            demonstration=m.demonstration,
                            changelog=[*m.changelog, summary, *entries])
    review_ids = [d.id for d in accepted]
    try:
        store.append_audit(actor, ACTION_APPLY, {
            "suite_id": suite.id, "from_version": suite.version, "to_version": new_version,
            "from_sha256": m.items_sha256, "to_sha256": new_suite.manifest.items_sha256,
            "items": changed, "review_ids": review_ids, "folder": str(folder),
            "at": utc_now()})
    except BaseException:
        # A version the audit log does not know about must not be left to be scored.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    mark_applied(store, review_ids, new_version)
    return new_suite
