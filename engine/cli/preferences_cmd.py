"""`safevet export-preferences`: KTO or DPO rows (TRL's formats) from a run's judged failures.

A thin front end on engine.preferences.export; what a row holds and what is left
out is that module's docstring.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from engine.cli.common import check_out_file, console, workspace
from engine.cli.compare_cmd import GATE_HELP, THRESHOLDS_HELP, judge_gate
from engine.cli.json_output import JSON_OPTION, emit_json


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command("export-preferences")(export_preferences)


def export_preferences(
        run_id: str = typer.Argument(..., metavar="RUN", help="Run id (see `safevet runs`)"),
        model: str = typer.Option(..., "--model", help="The candidate whose failures to export"),
        fmt: str = typer.Option(..., "--format", metavar="kto|dpo",
                                help="kto: prompt, completion, label; dpo: prompt, chosen, "
                                     "rejected (TRL KTOTrainer / DPOTrainer columns)"),
        out: Path = typer.Option(..., "--out", help="JSON-lines file to write"),
        include_contested: bool = typer.Option(
            False, "--include-contested",
            help="Also export items with an open review decision (contested labels)"),
        min_judge_kappa: Optional[float] = typer.Option(None, "--min-judge-kappa",
                                                        help=GATE_HELP),
        thresholds: Optional[Path] = typer.Option(None, "--thresholds", help=THRESHOLDS_HELP),
        as_json: bool = JSON_OPTION) -> None:
    """Write preference rows from the model's judged open-ended answers and its high-risk
    MCQ choices, each with its item, suite version, judge and that judge's agreement.

    Rejected: the model's unsafe or over-refusing answers (and MCQ high-risk options).
    Chosen: a reviewer's corrected reference response, the item's reference response, or
    another candidate's answer a trusted judge found appropriate. Left out by default:
    contested items, and answers judged only by judges below the agreement gate.
    """
    from engine.errors import SafeVetError
    from engine.preferences.export import FORMATS, export_preferences as export
    from engine.store.db import ResultsStore

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise SafeVetError(f"--format {fmt}: choose {' or '.join(FORMATS)}")
    check_out_file(out)
    ws = workspace()
    gate = judge_gate(min_judge_kappa, thresholds)
    summary = export(ResultsStore(ws.db_path), run_id, model, fmt, out,  # type: ignore[arg-type]
                     ws=ws, judge_gate=gate, include_contested=include_contested)
    if as_json:
        emit_json("preference_export", summary)
        return
    console.print(Text(f"wrote {summary.rows} {fmt.upper()} rows for {model} (run {run_id}) to "
                       f"{summary.out}"))
    for r in summary.judges:
        console.print(Text(f"labels rest on judge {r.describe()}"))
    for r in summary.judges_below_gate:
        console.print(Text(f"labels of judge {r.describe()} (--min-judge-kappa lowers the gate)"))
    if summary.sources:
        console.print(Text("rows by source: " + ", ".join(f"{k} {v}" for k, v in
                                                          summary.sources.items())))
    for reason, n in summary.excluded.items():
        console.print(Text(f"left out: {n} answer(s) {reason}"))
    if not include_contested and "contested in the review queue" in summary.excluded:
        console.print(Text("(--include-contested exports contested items too)"))
