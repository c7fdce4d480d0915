"""`safevet compare`: is candidate B safer than candidate A, on the same items?

A thin front end on engine.compare: `compare RUN [--models A,B]` compares two
models of one run, `compare RUN_A RUN_B` one model of each of two comparable
runs, and `compare RUN... --lineage NAME` the cycles of a model lineage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from rich.console import Console

from engine.cli.common import console as cli_console
from engine.cli.common import workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import Column, print_table
from engine.number_format import CLI

GATE_HELP = ("Judge agreement gate: labels of a judge whose held-out κ lower bound is below "
             "this are not counted (default: the strictest min_judge_kappa of the thresholds, "
             "0.6 in the bundled file)")
THRESHOLDS_HELP = "Governance thresholds TOML whose min_judge_kappa is the gate (default: bundled)"


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command("compare")(compare)


def _split(value: Optional[str]) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def judge_gate(min_judge_kappa: Optional[float], thresholds: Optional[Path]) -> float:
    """The gate a command applies: the option, else the thresholds' strictest limit."""
    from engine.compare.reliance import gate_from_thresholds
    from engine.errors import SafeVetError
    if min_judge_kappa is not None:
        if not 0.0 <= min_judge_kappa <= 1.0:
            raise SafeVetError(f"--min-judge-kappa {min_judge_kappa}: expected a Cohen's κ "
                               f"between 0 and 1")
        return float(min_judge_kappa)
    return gate_from_thresholds(thresholds)


def compare(runs: list[str] = typer.Argument(..., metavar="RUN [RUN_B]",
                                             help="One run (two of its models) or two runs"),
            models: Optional[str] = typer.Option(
                None, "--models", metavar="A,B",
                help="The two candidates, A first (one run), or A in RUN and B in RUN_B"),
            lineage: Optional[str] = typer.Option(
                None, "--lineage", metavar="NAME",
                help="Show the cycles of the lineage NAME belongs to, in order, from the "
                     "given runs"),
            condition: str = typer.Option("closed_book", "--condition",
                                          help="Condition of the --lineage cycle table"),
            judge: Optional[str] = typer.Option(None, "--judge",
                                                help="Judge of the --lineage cycle table "
                                                     "(default: the first with verdicts)"),
            min_judge_kappa: Optional[float] = typer.Option(None, "--min-judge-kappa",
                                                            help=GATE_HELP),
            thresholds: Optional[Path] = typer.Option(None, "--thresholds",
                                                      help=THRESHOLDS_HELP),
            as_json: bool = JSON_OPTION) -> None:
    """Paired comparison of two candidates on the same items, per suite × condition.

    Every MCQ figure and every open-ended figure is differenced (B − A) on the items both
    answered, with a 95% paired bootstrap interval; correct/incorrect also gets McNemar's
    exact test; the items that became dangerous (or safe) are listed by id. Two runs must
    have the same suite versions, settings and corpus. B is called safer on a figure only
    when the whole interval lies on the safe side.
    """
    from engine.compare.candidates import compare_candidates, resolve_candidates
    from engine.store.db import ResultsStore

    ws = workspace()
    gate = judge_gate(min_judge_kappa, thresholds)
    store = ResultsStore(ws.db_path)
    if lineage:
        from engine.compare.lineage import lineage_comparison
        table = lineage_comparison(store, ws, lineage, runs, condition=condition, judge=judge,
                                   judge_gate=gate)
        if as_json:
            emit_json("lineage_comparison", table)
            return
        print_lineage(table)
        return
    a, b = resolve_candidates(store, runs, _split(models) or None)
    result = compare_candidates(store, a, b, ws=ws, judge_gate=gate)
    if as_json:
        emit_json("comparison", result)
        return
    print_comparison(result)


def print_comparison(c, out: Console | None = None) -> None:
    """The comparison as tables: MCQ, open-ended, flips, the judges it rests on."""
    from engine.compare.text import figure_cells, ids_text
    console = out or cli_console

    console.print(Text(f"B = {c.b.label} compared with A = {c.a.label}; paired bootstrap "
                       f"{c.n_boot} resamples, seed {c.seed}, τ {c.tau:g}"))
    console.print(Text(f"Rule: {c.safer_rule}"))
    if c.mcq:
        print_table(console, ["suite", "condition", Column("n", "right"), "figure", "A", "B",
                              "B − A [95% CI]", "call"],
                    [(cell.suite_id, cell.condition, str(f.difference.n), *figure_cells(f, CLI))
                     for cell in c.mcq for f in cell.figures],
                    title="Multiple choice: B − A on paired items")
        for cell in c.mcq:
            m = cell.mcnemar
            console.print(Text(
                f"{cell.suite_id} {cell.condition}: McNemar exact p = {m.p_value:.4f} "
                f"(A right, B wrong: {m.a_only_correct}; A wrong, B right: "
                f"{m.b_only_correct}; both right {m.both_correct}, both wrong "
                f"{m.both_wrong}); became dangerous (high-risk in B only): "
                f"{ids_text([f.item_id for f in cell.became_dangerous])}; became safe: "
                f"{ids_text([f.item_id for f in cell.became_safe])}"))
    if c.open:
        print_table(console, ["suite", "condition", "judge", Column("n", "right"), "figure",
                              "A", "B", "B − A [95% CI]", "call"],
                    [(cell.suite_id, cell.condition, cell.judge, str(f.difference.n),
                      *figure_cells(f, CLI)) for cell in c.open for f in cell.figures],
                    title="Open-ended: B − A on the same prompts")
        for cell in c.open:
            console.print(Text(
                f"{cell.suite_id} {cell.condition} ({cell.judge}): became unsafe in B: "
                f"{ids_text([f.item_id for f in cell.became_dangerous])}; became safe: "
                f"{ids_text([f.item_id for f in cell.became_safe])}"
                + (f"; {cell.n_overridden} verdicts are a reviewer's" if cell.n_overridden
                   else "")))
    for r in c.judges:
        console.print(Text(f"judge {r.describe()} [run {r.run_id}]"))
    for note in c.notes:
        console.print(Text(f"note: {note}"))


def print_lineage(t) -> None:
    """The cycle table, then each version against its parent."""
    from engine.compare.text import ids_text
    from engine.number_format import rate

    console = cli_console
    console.print(Text(f"Lineage cycles in order; condition {t.condition}; open-ended figures "
                       f"pooled over the run's suites, one judge for every cycle; 95% "
                       f"bootstrap intervals ({t.n_boot} resamples, seed {t.seed})."))
    print_table(console, [Column("cycle", "right"), "model", "note", "run",
                          "harmful-query handling %", "erroneous refusal %", "accuracy %",
                          "high-risk error %", "judge"],
                [(str(r.cycle), r.model, r.note or "–", r.run_id or "not run",
                  rate(r.harmful_query_handling, style=CLI),
                  rate(r.erroneous_refusal_rate, style=CLI), rate(r.accuracy, style=CLI),
                  rate(r.high_risk_error_rate, style=CLI),
                  r.judge_reliance.describe() if r.judge_reliance else "–")
                 for r in t.cycles], title="Cycle over cycle")
    for s in t.steps:
        if s.comparison is None:
            console.print(Text(f"{s.model} vs {s.parent}: not compared ({s.not_compared})"))
            continue
        c = s.comparison
        safer = sorted({f.metric for cell in [*c.mcq, *c.open] for f in cell.figures
                        if f.call == "safer"})
        worse = sorted({f.metric for cell in [*c.mcq, *c.open] for f in cell.figures
                        if f.call == "less safe"})
        console.print(Text(
            f"{s.model} vs {s.parent}: became dangerous "
            f"{ids_text(c.flipped_ids('became_dangerous'), 20)}; became safe "
            f"{ids_text(c.flipped_ids('became_safe'), 20)}; safer on "
            f"{', '.join(safer) or 'no figure'}; less safe on {', '.join(worse) or 'no figure'}"))
