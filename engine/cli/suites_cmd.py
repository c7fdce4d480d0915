"""`safevet suites ...`: import, validate, list and show suites."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.common import console, workspace
from engine.suites.importers import IMPORTERS, import_suite
from engine.suites.importers.generic_csv import COLUMNS_HELP
from engine.suites.io import validate_suite_dir
from engine.suites.registry import list_suites, resolve_suite

app = typer.Typer(no_args_is_help=True)
# Names, descriptions, paths and errors come from suite files written elsewhere: they are
# printed with escape() or markup=False, because rich reads "[/x]" in them as markup (and
# raises on an unmatched tag) or "[link=...]" as a hyperlink.


@app.command("import", help=(
    "Import a public or in-house benchmark file as a suite (all or nothing).\n\n"
    "KIND is one of:\n\n"
    + "\n\n".join(f"  {k}: {imp.summary}" for k, imp in IMPORTERS.items() if k != "generic-csv")
    + "\n\n  generic-csv: a CSV of MCQs with the columns " + COLUMNS_HELP + ".\n\n"
    "The suite is written to --out, by default <workspace>/suites/<ID>."))
def import_cmd(
        # A plain str, checked by get_importer, so a wrong KIND is one clear line (exit 2).
        kind: str = typer.Argument(..., metavar="KIND", help="Source format: "
                                   + " | ".join(IMPORTERS) + "."),
        path: Path = typer.Argument(..., metavar="PATH", help="Source file, or folder for medsafetybench."),
        out: Optional[Path] = typer.Option(None, "--out", help="Suite folder to create "
                                           "(default: <workspace>/suites/<ID>)."),
        suite_id: Optional[str] = typer.Option(None, "--id", help="Suite id (default from the "
                                               "format and file name)."),
        name: Optional[str] = typer.Option(None, "--name", help="Human-readable suite name."),
        version: str = typer.Option("1.0.0", "--version", help="Suite version, MAJOR.MINOR.PATCH."),
        license_: Optional[str] = typer.Option(None, "--license", help="License of the source "
                                               "(default: the format's usual license)."),
) -> None:
    suites_dir = None if out is not None else workspace().suites_dir
    suite = import_suite(kind, path, out, suites_dir=suites_dir, id=suite_id, name=name,
                         version=version, license=license_)
    console.print(f"imported {len(suite.items)} items into {suite.id} {suite.version} "
                  f"at {suite.path}", markup=False)


@app.command("validate")
def validate(folder: Path) -> None:
    """Check a suite folder: schema, hash, item count. Exit 0 only if all hold."""
    suite = validate_suite_dir(folder)
    kinds = {"mcq": len(suite.mcq_items()), "open": len(suite.open_items())}
    console.print(f"OK {suite.id} {suite.version}: {len(suite.items)} items "
                  f"({kinds['mcq']} MCQ, {kinds['open']} open), sha256 "
                  f"{suite.manifest.items_sha256[:16]}…")


@app.command("list")
def list_cmd() -> None:
    """List bundled and imported suites."""
    # Ids and versions are what a user types next, so they never get truncated; paths fold.
    table = Table()
    table.add_column("id", no_wrap=True, overflow="fold", min_width=12)
    table.add_column("version", no_wrap=True)
    table.add_column("items", justify="right")
    table.add_column("kind")
    table.add_column("path", overflow="fold")
    table.add_column("status", overflow="fold")
    for folder, suite, error in list_suites(workspace()):
        if suite is None:
            table.add_row("?", "?", "?", "?", escape(str(folder)), f"[red]{escape(error)}[/]")
        else:
            kind = "mcq" if suite.mcq_items() and not suite.open_items() else (
                "open" if suite.open_items() and not suite.mcq_items() else "mixed")
            table.add_row(suite.id, suite.version, str(len(suite.items)), kind, escape(str(folder)),
                          "ok" + (" (demonstration)" if suite.manifest.demonstration else ""))
    console.print(table)


@app.command("show")
def show(ref: str, item: Optional[str] = typer.Option(None, "--item", help="One item's id")) -> None:
    """Show a suite's manifest and item summary, or one item in full."""
    suite = resolve_suite(workspace(), ref)
    if item:
        console.print_json(json.dumps(suite.item(item).model_dump(mode="json")))
        return
    m = suite.manifest
    console.print(f"[bold]{escape(m.name)}[/] ({m.id} {m.version})")
    console.print(f"{m.description}\nlicense: {m.license}\nsource: {m.source}\n"
                  f"items: {m.item_count}  sha256: {m.items_sha256}", markup=False)
    if m.demonstration:
        console.print("[yellow]Demonstration set written for SafeVet; not a validated "
                      "clinical benchmark.[/]")
    counts: dict[str, int] = {}
    for it in suite.items:
        key = getattr(it, "topic", "") or f"{getattr(it, 'family', '')}/{getattr(it, 'category', '')}"
        counts[key] = counts.get(key, 0) + 1
    table = Table("group", "items")
    for key, n in sorted(counts.items()):
        table.add_row(escape(key), str(n))
    console.print(table)
    for entry in m.changelog:
        console.print(f"{entry.version} {entry.date}: {entry.summary}", markup=False)
