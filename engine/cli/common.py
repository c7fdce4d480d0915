"""Shared CLI plumbing: the workspace chosen by --home, the console, error exits."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from engine.workspace import Workspace

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

_home: Path | None = None
_swept: set[Path] = set()


def set_home(home: Path | None) -> None:
    global _home
    _home = home


def chosen_home() -> Path | None:
    """The --home given on the command line (None: $SAFEVET_HOME or the default)."""
    return _home


def workspace() -> Workspace:
    """The chosen workspace, with whatever a killed process left in it removed first
    (once per process; said on stderr so --json output stays clean)."""
    from engine.leftovers import sweep

    ws = Workspace.open(_home)
    if ws.home not in _swept:
        _swept.add(ws.home)
        for path in sweep(ws):
            err_console.print(f"removed {path.name}, left by an interrupted command",
                              markup=False, style="dim")
    return ws
