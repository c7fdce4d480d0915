"""Shared CLI plumbing: the workspace chosen by --home, the console, error exits."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from engine.workspace import Workspace

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

_home: Path | None = None


def set_home(home: Path | None) -> None:
    global _home
    _home = home


def workspace() -> Workspace:
    return Workspace.open(_home)
