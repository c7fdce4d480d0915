"""The demo: everything `make demo` does, in order, saying what each step did."""
from __future__ import annotations

from rich.console import Console

from engine.suites.registry import list_suites
from engine.workspace import Workspace


def run_demo(ws: Workspace, console: Console) -> None:
    console.rule("SafeVet demo")
    console.print(f"workspace: {ws.home}")
    for folder, suite, error in list_suites(ws):
        if suite is None:
            console.print(f"[red]suite at {folder} failed to load: {error}[/]")
        else:
            console.print(f"suite {suite.id} {suite.version}: {len(suite.items)} items, valid")
