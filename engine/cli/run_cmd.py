"""`safevet run`, `safevet runs`, `safevet results`: start, resume, list and export runs."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from engine.cli.common import check_out_file, console, err_console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import print_table
from engine.events import CancelToken, ProgressEvent
from engine.judges.model_judge import rubric_names


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("runs")(runs)
    app.command("results")(results)
    app.command("judge")(judge)


def _split(value: Optional[str]) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def run(models: Optional[str] = typer.Option(None, "--models", help="Comma-separated model names"),
        suites: Optional[str] = typer.Option(None, "--suites", help="Comma-separated suite ids or folders"),
        conditions: str = typer.Option("all", "--conditions", help="all, or a comma-separated list"),
        profile: str = typer.Option("demo", "--profile", help="demo | full | smoke"),
        corpus: Optional[str] = typer.Option(None, "--corpus", help="Corpus for the RAG conditions"),
        samples: Optional[int] = typer.Option(None, "--samples", help="k sampled answers (majority vote)"),
        permutations: Optional[bool] = typer.Option(None, "--permutations/--no-permutations",
                                                    help="Option-order permutations"),
        operator: Optional[str] = typer.Option(None, "--operator", help="Who runs it (default: login name)"),
        resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run with this id"),
        ) -> None:
    """Run models × suites × conditions, storing each call as it completes. Ctrl-C stops cleanly."""
    from engine.runs.executor import create_run
    from engine.store.db import ResultsStore

    ws = workspace()
    store = ResultsStore(ws.db_path)
    if resume:
        run_id = resume
    else:
        overrides = {}
        if samples is not None:
            overrides["samples"] = samples
        if permutations is not None:
            overrides["permutations"] = permutations
        run_id = create_run(ws, store, models=_split(models), suites=_split(suites),
                            conditions=conditions, profile=profile, corpus=corpus,
                            operator=operator, overrides=overrides)
    console.print(f"run id: [bold]{run_id}[/]")
    outcome = run_with_progress(ws, store, run_id)
    console.print(f"{outcome.status}: {outcome.done}/{outcome.total} calls stored "
                  f"({outcome.skipped} were already stored, {outcome.errors} errors) "
                  f"in {outcome.seconds:.0f} s")
    if outcome.status == "interrupted":
        console.print(f"resume with: safevet run --resume {run_id}")
        raise typer.Exit(130)
    if outcome.status == "failed":
        from rich.text import Text
        err_console.print(Text(f"error: run {run_id} failed: {outcome.failure}",
                               style="bold red"), soft_wrap=True)
        raise typer.Exit(1)
    print_summary(store, run_id)


def run_with_progress(ws, store, run_id: str):
    """Drive execute_run with a rich progress bar; first Ctrl-C cancels cleanly."""
    from engine.number_format import key_figures
    from engine.runs.executor import execute_run

    cancel = CancelToken()

    def on_sigint(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        err_console.print("stopping after the call in flight (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[live]}"),
                   console=console, transient=False)
    task = bar.add_task("starting", total=None, live="")

    plain = {"last": 0.0}

    def plain_line(ev: ProgressEvent, live_text: str) -> None:
        """Without a terminal (a log file, CI) the bar cannot redraw: print a line now and then."""
        now = time.monotonic()
        if now - plain["last"] < 15 and ev.done != ev.total:
            return
        plain["last"] = now
        eta = ev.data.get("eta_seconds")
        console.print(f"  {ev.done}/{ev.total} calls · {ev.data.get('model')} · "
                      f"{ev.data.get('condition')} · ETA {eta / 60:.1f} min {live_text}"
                      if eta is not None else f"  {ev.done}/{ev.total} calls {live_text}")

    def on_event(ev: ProgressEvent) -> None:
        if ev.total is not None and ev.stage == "call" and not console.is_terminal:
            plain_line(ev, key_figures(ev.data.get("live") or {}))
        if ev.total is not None:
            live_text = key_figures(ev.data.get("live") or {})
            desc = ev.message if ev.stage != "call" else (
                f"{ev.data.get('model')} · {ev.data.get('condition')}")
            bar.update(task, completed=ev.done, total=ev.total, description=desc, live=live_text)
        elif ev.message:
            bar.console.print(ev.message)

    try:
        with bar:
            return execute_run(ws, store, run_id, progress=on_event, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)


def print_summary(store, run_id: str) -> None:
    """Headline tables, one per model so they stay readable in an 80-column log."""
    from functools import partial

    from engine.figures import MetricParams, run_figures
    from engine.number_format import CLI, count, rate, scalar, score

    run = store.get_run(run_id)
    if run is None:
        from engine.errors import NotFoundError
        raise NotFoundError(f"run {run_id!r} is not in {store.path} (see `safevet runs`)")
    params = MetricParams.of_run(run)
    metrics = run_figures(store, run_id, params=params)
    pct = partial(rate, style=CLI)                   # '12.5 [8–17]': the header says %
    num = partial(score, style=CLI, interval=False)  # a score's point: '0.71'

    from engine.cli.tables import print_table

    for model in sorted({c.model for c in metrics.mcq}):
        # The model is a column too: piped output has no titles, and rows must say whose.
        print_table(console, ["model", "condition", "n", "accuracy", "high-risk err.",
                              "contradiction", "dangerous overconf.", "ECE"],
                    [[c.model, c.condition, count(c.n_items, style=CLI), pct(c.accuracy),
                      pct(c.high_risk_error_rate), pct(c.contradiction_rate),
                      pct(c.dangerous_overconfidence), scalar(c.ece, 3, style=CLI)]
                     for c in metrics.mcq if c.model == model],
                    title=f"{model} — MCQ, % with 95% intervals (run {run_id})")
    if metrics.open:
        print_table(console, ["model", "judge", "n", "refusal", "mean harm 1-5", "CARES score",
                              "over-refusal"],
                    [[o.model, o.judge, count(o.n_items, style=CLI), pct(o.refusal_rate),
                      num(o.mean_harmfulness), num(o.cares_safety_score),
                      pct(o.over_refusal_rate)] for o in metrics.open],
                    title="Open-ended safety (% with 95% intervals)")
    console.print(f"95% percentile bootstrap intervals over items, {params.n_boot} resamples, "
                  f"seed {params.seed}, τ {params.tau:g}: the figures the signed report and "
                  f"the desktop show", style="dim")


def runs(as_json: bool = JSON_OPTION) -> None:
    """List the runs in the workspace's results store."""
    from engine.store.db import ResultsStore

    listed = ResultsStore(workspace().db_path).list_runs()
    if as_json:
        emit_json("runs", listed)
        return
    print_table(console, ["run id", "created", "status", "profile", "models", "operator"],
                [(r.id, r.created_at, r.status, r.profile, ", ".join(r.models), r.operator)
                 for r in listed])


def results(run_id: str = typer.Argument(..., metavar="RUN_ID", help="Run id (see `safevet runs`)"),
            as_json: bool = typer.Option(False, "--json", help="JSON: run, metrics (and raw calls with --raw)"),
            as_csv: bool = typer.Option(False, "--csv", help="CSV: headline table (or raw calls with --raw)"),
            raw: bool = typer.Option(False, "--raw", help="Include every stored call row"),
            out: Optional[Path] = typer.Option(None, "--out", help="Write to this file")) -> None:
    """Export a run's headline tables and raw call rows."""
    from engine.figures import run_figures
    from engine.runs.results import headline_rows, raw_rows, to_csv, to_json
    from engine.store.db import ResultsStore

    if out is not None:
        check_out_file(out)  # a mistyped folder is refused before the figures are computed
    store = ResultsStore(workspace().db_path)
    if as_json:
        text = to_json(store, run_id, raw)
    elif as_csv:
        text = to_csv(raw_rows(store, run_id) if raw else headline_rows(run_figures(store, run_id)))
    else:
        print_summary(store, run_id)
        return
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        typer.echo(text)


def judge(run_id: str,
          model: str = typer.Option(..., "--model", help="A registered model to act as judge"),
          rubric: str = typer.Option("medsafetybench", "--rubric", help=" | ".join(rubric_names())),
          overwrite: bool = typer.Option(False, "--overwrite", help="Re-judge answers it already judged")) -> None:
    """Add a local model judge to a run's open-ended answers, and measure its agreement
    with the labelled validation examples (stored with the run, shown in the report)."""
    from engine.judges.apply import judge_run, validate_for_run
    from engine.judges.model_judge import ModelJudge
    from engine.models.registry import load_model
    from engine.runs.executor import load_config, load_run_suites
    from engine.store.db import ResultsStore

    if rubric not in rubric_names():
        raise typer.BadParameter(f"choose {' or '.join(rubric_names())}", param_hint="--rubric")
    ws = workspace()
    store = ResultsStore(ws.db_path)
    _, config = load_config(store, run_id)
    suites = load_run_suites(config)
    model_judge = ModelJudge(load_model(ws, model), rubric)  # type: ignore[arg-type]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"judging with {model_judge.judge_id}", total=None)

        def on_event(ev: ProgressEvent) -> None:
            if ev.total is not None:
                bar.update(task, completed=ev.done, total=ev.total)

        n = judge_run(store, run_id, {s.id: s for s in suites}, model_judge,
                      overwrite=overwrite, progress=on_event)
        bar.update(task, description=f"validating {model_judge.judge_id}", completed=0,
                   total=None)
        agreement = validate_for_run(store, run_id, model_judge, suites)
    if agreement is None:
        console.print(f"{model_judge.judge_id}: judged {n} answers; the run has no open-ended "
                      f"item, so there is nothing to validate the judge for")
        return
    console.print(f"{model_judge.judge_id}: judged {n} answers; agreement on {agreement.n} "
                  f"labelled examples: accuracy {agreement.accuracy:.3f}, "
                  f"Cohen's kappa {agreement.kappa:.3f}")
