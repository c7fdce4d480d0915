"""`safevet conditions`: what `--conditions` and `--rubric` accept, one line each.

Printed from the registries themselves (engine.conditions.registry and the model
judge's rubrics), so the list cannot drift from what a run will do. Plain
lines rather than a table: one condition per line survives a narrow terminal,
grep and a log file.
"""
from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    app.command("conditions")(conditions)


def conditions(as_json: bool = typer.Option(False, "--json", help="Print as JSON")) -> None:
    """List the deployment conditions (for run --conditions) and the judge rubrics
    (for judge --rubric)."""
    from engine.conditions import registry
    from engine.judges.model_judge import rubrics

    if as_json:
        typer.echo(json.dumps({
            "conditions": [{"name": c.name, "label": c.label, "needs_corpus": c.needs_corpus,
                            "open_items": c.open_items.value, "description": c.description}
                           for c in registry.REGISTRY],
            "rubrics": [{"name": r.name, "description": r.description} for r in rubrics()],
        }, indent=2, ensure_ascii=False))
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
