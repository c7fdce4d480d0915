"""`safevet suites ...`: import, validate, list and show suites."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.text import Text

from engine.cli.common import console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import Column, print_table
from engine.errors import NotFoundError
from engine.suites.importers import IMPORTERS, import_suite
from engine.suites.importers.generic_csv import COLUMNS_HELP
from engine.suites.io import validate_suite_dir
from engine.suites.registry import list_suites, resolve_suite
from engine.suites.schema import McqItem, OpenItem, Suite, SuiteManifest

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
    suites_dir = None if out is not None else workspace(create=True).suites_dir
    suite = import_suite(kind, path, out, suites_dir=suites_dir, id=suite_id, name=name,
                         version=version, license=license_)
    console.print(f"imported {len(suite.items)} items into {suite.id} {suite.version} "
                  f"at {suite.path}", markup=False)


@app.command("validate")
def validate(folder: Path = typer.Argument(..., metavar="FOLDER",
                                           help="A suite folder (holding suite.json)")) -> None:
    """Check a suite folder: schema, hash, item count. Exit 0 only if all hold."""
    suite = validate_suite_dir(folder)
    kinds = {"mcq": len(suite.mcq_items()), "open": len(suite.open_items())}
    console.print(f"OK {suite.id} {suite.version}: {len(suite.items)} items "
                  f"({kinds['mcq']} MCQ, {kinds['open']} open), sha256 "
                  f"{suite.manifest.items_sha256}", markup=False)


@dataclass(frozen=True)
class ListedSuite:
    """One folder `suites list` found: the suite it holds, or why it cannot be loaded."""

    path: str
    manifest: SuiteManifest | None
    item_kind: str | None        # mcq | open | mixed (None when it does not load)
    error: str | None


@dataclass(frozen=True)
class SuiteGroup:
    """A topic (MCQ) or family/category (open items) and how many items it has."""

    group: str
    items: int


@dataclass(frozen=True)
class SuiteSummary:
    """What `suites show` says about a suite: its manifest and where its items sit."""

    manifest: SuiteManifest
    path: str | None
    groups: list[SuiteGroup]


def _item_kind(suite: Suite) -> str:
    mcq, open_ = bool(suite.mcq_items()), bool(suite.open_items())
    return "mcq" if mcq and not open_ else ("open" if open_ and not mcq else "mixed")


def _listed(folder: Path, suite: Suite | None, error: str | None) -> ListedSuite:
    if suite is None:
        return ListedSuite(str(folder), None, None, error)
    return ListedSuite(str(folder), suite.manifest, _item_kind(suite), None)


def _status(listed: ListedSuite) -> str | Text:
    if listed.manifest is None:
        return Text(listed.error or "invalid", style="red")
    return "ok" + (" (demonstration)" if listed.manifest.demonstration else "")


@app.command("list")
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List bundled and imported suites."""
    listed = [_listed(*entry) for entry in list_suites(workspace())]
    if as_json:
        emit_json("suites", listed)
        return
    print_table(console, ["id", "version", Column("items", "right"), "kind", "path", "status"],
                [(ls.manifest.id if ls.manifest else "?",
                  ls.manifest.version if ls.manifest else "?",
                  str(ls.manifest.item_count) if ls.manifest else "?",
                  ls.item_kind or "?", ls.path, _status(ls)) for ls in listed])


def _groups(suite: Suite) -> list[SuiteGroup]:
    counts: dict[str, int] = {}
    for it in suite.items:
        key = getattr(it, "topic", "") or f"{getattr(it, 'family', '')}/{getattr(it, 'category', '')}"
        counts[key] = counts.get(key, 0) + 1
    return [SuiteGroup(key, n) for key, n in sorted(counts.items())]


def _item(suite: Suite, item_id: str) -> McqItem | OpenItem:
    """The item, or a NotFound line naming the suite and a few ids it does have."""
    try:
        return suite.item(item_id)
    except KeyError:
        some = ", ".join(it.id for it in suite.items[:3])
        more = ", ..." if len(suite.items) > 3 else ""
        raise NotFoundError(f"suite {suite.id} {suite.version} has no item {item_id!r} (its "
                            f"{len(suite.items)} items are {some}{more}; `safevet suites show "
                            f"{suite.id} --json` lists the groups)") from None


@app.command("show")
def show(ref: str = typer.Argument(..., metavar="SUITE",
                                   help="Suite id, id@version, or a suite folder"),
         item: Optional[str] = typer.Option(None, "--item", metavar="ITEM_ID",
                                            help="Show one item in full (as JSON)"),
         as_json: bool = JSON_OPTION) -> None:
    """Show a suite's manifest and item summary, or one item in full."""
    suite = resolve_suite(workspace(), ref)
    if item:
        found = _item(suite, item)
        if as_json:
            emit_json("suite_item", found, suite_id=suite.id, suite_version=suite.version)
        else:
            # Plain text: rich would wrap a long question inside a JSON string.
            typer.echo(json.dumps(found.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    if as_json:
        emit_json("suite", SuiteSummary(suite.manifest, suite.path, _groups(suite)))
        return
    m = suite.manifest
    console.print(f"[bold]{escape(m.name)}[/] ({m.id} {m.version})")
    console.print(f"{m.description}\nlicense: {m.license}\nsource: {m.source}\n"
                  f"items: {m.item_count}  sha256: {m.items_sha256}", markup=False)
    if m.demonstration:
        console.print("[yellow]Demonstration set written for SafeVet; not a validated "
                      "clinical benchmark.[/]")
    print_table(console, ["group", Column("items", "right")],
                [(g.group, str(g.items)) for g in _groups(suite)])
    for entry in m.changelog:
        console.print(f"{entry.version} {entry.date}: {entry.summary}", markup=False)
