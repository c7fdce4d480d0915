"""Where suites live: the bundled demo suites in assets and imported ones in the workspace.

A folder that cannot be loaded (broken, a link, unreadable) is listed with its
error and skipped when resolving by id, so one bad copy never hides the rest.
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import NotFoundError, SafeVetError
from engine.failures import explain
from engine.suites.io import MANIFEST_NAME, load_suite
from engine.suites.schema import Suite
from engine.workspace import ASSETS_DIR, Workspace

BUNDLED_SUITES_DIR = ASSETS_DIR / "suites"


def suite_dirs(ws: Workspace) -> list[Path]:
    """Every folder holding a suite.json, bundled first, then the workspace's."""
    dirs: list[Path] = []
    for root in (BUNDLED_SUITES_DIR, ws.suites_dir):
        if root.is_dir():
            dirs.extend(sorted(p.parent for p in root.glob(f"*/{MANIFEST_NAME}")))
            dirs.extend(sorted(p.parent for p in root.glob(f"*/*/{MANIFEST_NAME}")))
    return dirs


def list_suites(ws: Workspace) -> list[tuple[Path, Suite | None, str | None]]:
    """(folder, suite or None, error message or None) for each known suite folder."""
    out = []
    for d in suite_dirs(ws):
        try:
            out.append((d, load_suite(d), None))
        except (SafeVetError, OSError) as exc:  # OSError: a file the user may not read
            out.append((d, None, explain(exc).message))
    return out


def resolve_suite(ws: Workspace, ref: str) -> Suite:
    """A suite by folder path, by id (newest version), or by `id@version`."""
    path = Path(ref)
    if path.is_dir():
        return load_suite(path)
    want_id, _, want_version = ref.partition("@")
    matches = []
    for d in suite_dirs(ws):
        try:
            s = load_suite(d)
        except (SafeVetError, OSError):
            continue
        if s.id == want_id and (not want_version or s.version == want_version):
            matches.append(s)
    if not matches:
        raise NotFoundError(f"suite {ref!r} not found (not a folder, and no suite with that id "
                            f"in {BUNDLED_SUITES_DIR} or {ws.suites_dir})")
    return max(matches, key=lambda s: tuple(int(x) for x in s.version.split(".")))
