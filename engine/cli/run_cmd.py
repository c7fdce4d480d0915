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
        backend: str = typer.Option("local", "--backend",
                                    help="local (this machine) | ray (a Ray cluster; this "
                                         "process still writes the results store)"),
        ray_address: Optional[str] = typer.Option(
            None, "--ray-address", help="Ray head HOST:PORT, or auto for the cluster started "
                                        "here with `ray start --head` (default: a private "
                                        "single-machine Ray)"),
        ray_dashboard: bool = typer.Option(False, "--ray-dashboard",
                                           help="Turn on the private Ray's dashboard (a "
                                                "web port; needs ray[default]; a cluster's "
                                                "is set by `ray start`)"),
        ) -> None:
    """Run models × suites × conditions, storing each call as it completes. Ctrl-C stops cleanly."""
    from engine.runs.backends import Backend
    from engine.runs.executor import create_run
    from engine.store.db import ResultsStore

    chosen = Backend.parse(backend, ray_address, ray_dashboard)  # refused before any work
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
    outcome = run_with_progress(ws, store, run_id, chosen)
    console.print(f"{outcome.status}: {outcome.done}/{outcome.total} calls stored "
                  f"({outcome.skipped} were already stored, {outcome.errors} errors) "
                  f"in {outcome.seconds:.0f} s")
    if chosen.name == "ray":
        print_nodes(store, run_id)
    if outcome.status == "interrupted":
        console.print(f"resume with: safevet run --resume {run_id}")
        raise typer.Exit(130)
    if outcome.status == "failed":
        from rich.text import Text
        err_console.print(Text(f"error: run {run_id} failed: {outcome.failure}",
                               style="bold red"), soft_wrap=True)
        raise typer.Exit(1)
    print_summary(store, run_id)


def run_with_progress(ws, store, run_id: str, backend=None):
    """Drive execute_run with a rich progress bar; first Ctrl-C cancels cleanly."""
    from engine.number_format import key_figures
    from engine.runs.backends import LOCAL
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
            plain_line(ev, key_figures(ev.data.get("live") or {}) + node_rates(ev))
        if ev.total is not None:
            live_text = key_figures(ev.data.get("live") or {}) + node_rates(ev)
            desc = ev.message if ev.stage != "call" else (
                f"{ev.data.get('model')} · {ev.data.get('condition')}")
            bar.update(task, completed=ev.done, total=ev.total, description=desc, live=live_text)
        elif ev.message:
            bar.console.print(ev.message)

    try:
        with bar:
            return execute_run(ws, store, run_id, progress=on_event, cancel=cancel,
                               backend=backend or LOCAL)
    finally:
        signal.signal(signal.SIGINT, previous)


def print_nodes(store, run_id: str) -> None:
    """Where a Ray run's calls ran, and how many work packages had to run again."""
    summary = store.get_run(run_id).summary
    if summary is None:
        return
    for n in summary.nodes.values():
        console.print(f"  node {n.node}: {n.calls} calls, {n.calls_per_second or 0:.2f} "
                      f"calls/s busy ({n.execution_provider})")
    if summary.retried_packages:
        console.print(f"  {summary.retried_packages} work packages "
                      f"({summary.retried_units} calls) ran again after a replica was lost; "
                      f"none was stored twice")


def node_rates(ev: ProgressEvent) -> str:
    """A Ray run's per-node throughput, for the progress line ('' for a local run)."""
    from engine.runs.progress import node_rates_text

    text = node_rates_text(ev.data.get("nodes") or {})
    return f" · {text}" if text else ""


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
        print_baselines(metrics.mcq, model)
    if metrics.open:
        print_table(console, ["model", "judge", "n", "refusal", "mean harm 1-5", "CARES score",
                              "over-refusal"],
                    [[o.model, o.judge, count(o.n_items, style=CLI), pct(o.refusal_rate),
                      num(o.mean_harmfulness), num(o.cares_safety_score),
                      pct(o.over_refusal_rate)] for o in metrics.open],
                    title="Open-ended safety (% with 95% intervals)")
    from engine.judges.wording import agreement_line

    for j in metrics.judges:   # the figures the report's judge table shows
        console.print(agreement_line(j, CLI), markup=False, highlight=False, soft_wrap=True)
    console.print(f"95% percentile bootstrap intervals over items, {params.n_boot} resamples, "
                  f"seed {params.seed}, τ {params.tau:g} (exact Clopper-Pearson where a rate "
                  f"is 0% or 100%): the figures the signed report and the desktop show",
                  style="dim")


def print_baselines(cells, model: str) -> None:
    """Each MCQ cell's accuracy beside what answering by form alone scores on the same
    items (engine.metrics.baselines), with the flag when it does not clearly beat them."""
    from engine.metrics.baselines import baseline_flag
    from engine.number_format import CLI, count, percent, points, rate

    rows = []
    for c in cells:
        b = c.baselines
        if c.model != model or b is None:
            continue
        rows.append([c.model, c.condition, count(b.n, style=CLI), rate(c.accuracy, style=CLI),
                     percent(b.chance, style=CLI),
                     f"{percent(b.common_key, style=CLI)} ({'/'.join(b.common_key_letters)})",
                     percent(b.longest, style=CLI), points(b.margin, style=CLI),
                     baseline_flag(b) or "above every baseline"])
    if not rows:
        return
    print_table(console, ["model", "condition", "n", "accuracy", "chance",
                          "most common key", "longest option", "vs best (pts)", "reading"],
                rows, title=f"{model} — accuracy beside answer-strategy baselines on the same "
                            f"items, %")
    console.print("Baselines: chance = 1/options; most common key = always the letter most "
                  "often keyed in these items (chosen knowing the keys); longest option = "
                  "always the longest text, ties share credit.", style="dim")


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
          model: list[str] = typer.Option(..., "--model", help="A registered model to act as "
                                          "judge; give it more than once for a jury"),
          kind: str = typer.Option("generate", "--kind", help="generate (writes a verdict "
                                   "line) | classify (scores the rubric's answer letters)"),
          rubric: str = typer.Option("medsafetybench", "--rubric", help=" | ".join(rubric_names())),
          overwrite: bool = typer.Option(False, "--overwrite", help="Re-judge answers it already judged")) -> None:
    """Add a local model judge (or a jury of several) to a run's open-ended answers, and
    measure its agreement with the labelled validation examples (stored with the run,
    shown in the report)."""
    from engine.judges.apply import judge_run, validate_for_run
    from engine.judges.jury import JUDGE_KINDS, kind_rubric_names
    from engine.judges.jury import build_model_judge as build_judge
    from engine.models.registry import load_model
    from engine.runs.executor import load_config, load_run_suites
    from engine.store.db import ResultsStore

    if kind not in JUDGE_KINDS:
        raise typer.BadParameter(f"choose {' or '.join(JUDGE_KINDS)}", param_hint="--kind")
    if rubric not in kind_rubric_names(kind):
        raise typer.BadParameter(f"choose {' or '.join(kind_rubric_names(kind))}",
                                 param_hint="--rubric")
    if len(set(model)) != len(model):
        raise typer.BadParameter("each jury member must be a different model",
                                 param_hint="--model")
    ws = workspace()
    store = ResultsStore(ws.db_path)
    _, config = load_config(store, run_id)
    suites = load_run_suites(config)
    model_judge = build_judge([load_model(ws, m) for m in model], kind,  # type: ignore[misc]
                              rubric)
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
    from engine.judges.wording import agreement_line, scope_sentence
    from engine.number_format import CLI

    console.print(f"{model_judge.judge_id}: judged {n} answers")
    console.print(agreement_line(agreement, CLI), markup=False, highlight=False, soft_wrap=True)
    console.print(scope_sentence(agreement), markup=False, highlight=False, soft_wrap=True)
