"""Shared CLI plumbing: the workspace chosen by --home, the console, error exits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from engine.errors import SafeVetError
from engine.workspace import HomeState, Workspace, default_home, home_state

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# The rule `safevet --help` states (main.py prints this text).
HOME_RULE = (
    "A folder given by --home or $SAFEVET_HOME is used when it is a SafeVet workspace "
    "(it has results.sqlite, or models/ and suites/) or an empty folder. A missing "
    "folder is created only with --init, or by a command that stores the first thing "
    "in a workspace (models install-default, models import, models add-exported, "
    "suites import, corpus ingest, keys import, demo). A folder holding anything else "
    "is refused. The default workspace is created on first use.")


@dataclass(frozen=True)
class HomeChoice:
    """The workspace folder the command line chose, and how (for messages)."""

    path: Path | None = None          # None: the default workspace
    origin: str = "--home"            # "--home" or "$SAFEVET_HOME"
    init: bool = False                # --init: a missing folder may be created


_choice = HomeChoice()
_swept: set[Path] = set()


def set_home(home: Path | None, origin: str = "--home", init: bool = False) -> None:
    global _choice
    _choice = HomeChoice(home, origin, init)


def chosen_home() -> Path | None:
    """The --home given on the command line (None: $SAFEVET_HOME or the default)."""
    return _choice.path


def home_path() -> Path:
    """The folder the workspace is (or would be) in, without creating anything."""
    return (_choice.path.expanduser() if _choice.path is not None else default_home()).resolve()


def _refusal(state: HomeState, may_create: bool) -> str | None:
    """Why the chosen folder cannot be the workspace, or None when it can."""
    where = (f"$SAFEVET_HOME={home_path()}" if _choice.origin == "$SAFEVET_HOME"
             else f"--home {home_path()}")
    if state in (HomeState.WORKSPACE, HomeState.EMPTY):
        return None
    if state is HomeState.MISSING:
        return None if may_create else (
            f"{where}: no such folder, so no SafeVet workspace there; check the path, or "
            f"add --init to create a new workspace (safevet --home PATH --init ...)")
    if state is HomeState.FILE:
        return f"{where} is a file, not a workspace folder"
    return (f"{where} is not a SafeVet workspace (no results.sqlite, no models/ and suites/) "
            f"and is not empty; give a workspace, an empty folder, or a new path with --init")


def check_home(may_create: bool = False) -> None:
    """Refuse a --home / $SAFEVET_HOME that is mistyped or names some other folder, before
    anything is written there. The default workspace is SafeVet's own: always accepted."""
    if _choice.path is None:
        return
    reason = _refusal(home_state(home_path()), may_create or _choice.init)
    if reason is not None:
        raise SafeVetError(reason)


def workspace(create: bool = False) -> Workspace:
    """The chosen workspace, with whatever a killed process left in it removed first
    (once per process; said on stderr so --json output stays clean).

    `create`: the command stores the first thing in a workspace (an import, an
    ingest, the demo), so a missing --home folder is made rather than refused."""
    from engine.leftovers import sweep

    check_home(may_create=create)
    ws = Workspace.open(_choice.path)
    if ws.home not in _swept:
        _swept.add(ws.home)
        for path in sweep(ws):
            err_console.print(f"removed {path.name}, left by an interrupted command",
                              markup=False, style="dim")
    return ws


def check_out_file(out: Path, option: str = "--out") -> None:
    """Refuse an output file whose folder is missing before any work is done: the user
    mistyped a path (exit 2), which is not the machine failing to write (exit 1)."""
    target = out.expanduser()
    if target.is_dir():
        raise SafeVetError(f"{option} {out} is a folder; give a file name in it")
    if not target.parent.is_dir():
        raise SafeVetError(f"{option} {out}: the folder {target.parent} does not exist")
