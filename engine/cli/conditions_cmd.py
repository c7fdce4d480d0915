"""`safevet conditions`: what `--conditions` and `--rubric` accept, one line each.

Printed from the registries themselves (engine.conditions.registry and the model
judge's rubrics), so the list cannot drift from what a run will do. Plain
lines rather than a table: one condition per line survives a narrow terminal,
grep and a log file.
"""
from __future__ import annotations

from dataclasses import dataclass

import typer

from engine.cli.json_output import JSON_OPTION, emit_json


def register(app: typer.Typer) -> None:
    app.command("conditions")(conditions)


@dataclass(frozen=True)
class ConditionRecord:
    """A condition as `conditions --json` prints it: what a run's --conditions accepts."""

    name: str
    label: str
    needs_corpus: bool
    open_items: str
    description: str


@dataclass(frozen=True)
class RubricRecord:
    """A judge rubric as `conditions --json` prints it: what judge --rubric accepts."""

    name: str
    description: str


def conditions(as_json: bool = JSON_OPTION) -> None:
    """List the deployment conditions (for run --conditions) and the judge rubrics
    (for judge --rubric)."""
    from engine.conditions import registry
    from engine.judges.model_judge import rubrics

    if as_json:
        emit_json("conditions",
                  [ConditionRecord(c.name, c.label, c.needs_corpus, c.open_items.value,
                                   c.description) for c in registry.REGISTRY],
                  rubrics=[RubricRecord(r.name, r.description) for r in rubrics()])
        return
    rows = registry.REGISTRY
    name_w = max(len(c.name) for c in rows)
    label_w = max(len(c.label) for c in rows)
    typer.echo("Conditions (safevet run --conditions NAME,NAME or all):")
    for c in rows:
        corpus = "needs corpus" if c.needs_corpus else "no corpus"
        typer.echo(f"  {c.name:<{name_w}}  {c.label:<{label_w}}  {corpus:<12}  {c.description}")
    judged = rubrics()
    rubric_w = max(len(r.name) for r in judged)
    typer.echo("Judge rubrics (safevet judge RUN --model NAME --rubric NAME):")
    for r in judged:
        typer.echo(f"  {r.name:<{rubric_w}}  {r.description}")
