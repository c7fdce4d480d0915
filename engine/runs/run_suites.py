"""The suites of a run, at exactly the versions and items the run was planned with.

One loader for the executor (resume), the results export, the report and
`verify`: every one of them must score the same items, so every one refuses a
suite whose items hash differs from the one the run recorded. The planned
folder is tried first; a suite that moved is found in the workspace by
`id@version` (the hash still decides).
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import NotFoundError, SafeVetError
from engine.runs.plan import RunConfig, SuiteRef
from engine.suites.io import load_suite
from engine.suites.schema import Suite
from engine.workspace import Workspace


def _planned_folder(ref: SuiteRef) -> Suite | None:
    if not ref.path or not (Path(ref.path) / "suite.json").exists():
        return None
    return load_suite(ref.path)


def _from_workspace(ws: Workspace, ref: SuiteRef) -> Suite:
    from engine.suites.registry import resolve_suite

    key = f"{ref.id}@{ref.version}" if ref.version else ref.id
    try:
        return resolve_suite(ws, key)
    except NotFoundError as exc:
        raise SafeVetError(f"the run was scored on suite {key}, which is not in this "
                           f"workspace; import that suite version to use the run") from exc


def load_ref(ref: SuiteRef, ws: Workspace | None = None) -> Suite:
    """The suite a ref names, hash-checked against what the run recorded."""
    suite = _planned_folder(ref)
    if suite is not None and ref.sha256 and suite.manifest.items_sha256 != ref.sha256 \
            and ws is not None:
        suite = None  # changed in place: a copy of the recorded version may be in the workspace
    if suite is None:
        if ws is None:
            raise SafeVetError(f"suite {ref.id} is no longer at {ref.path or '(no path)'}")
        suite = _from_workspace(ws, ref)
    if ref.sha256 and suite.manifest.items_sha256 != ref.sha256:
        raise SafeVetError(f"suite {ref.id} at {suite.path} has changed since the run was "
                           f"planned (sha256 {suite.manifest.items_sha256[:12]}… vs "
                           f"{ref.sha256[:12]}…); the run cannot be resumed or reported "
                           f"against other items")
    return suite


def load_run_suites(config: RunConfig, ws: Workspace | None = None,
                    scored: list[tuple[str, str]] = ()) -> list[Suite]:
    """Every planned suite, plus any (id, version) the store has calls for that the plan
    does not name (records older than the plan's suite list)."""
    refs = list(config.suites)
    named = {r.id for r in refs}
    for sid, version in scored:
        if sid not in named:
            named.add(sid)
            refs.append(SuiteRef(id=sid, version=version))
    return [load_ref(ref, ws) for ref in refs]
