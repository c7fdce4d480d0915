"""`safevet demo`: everything `make demo` does, in order, saying what each step did.

It is the main job of the product end to end on the bundled assets: default
models, demo corpus, both candidates over the demo suites under all six
conditions, a summary table, then one signed and verified PDF per candidate.
It is a CLI command module: it draws with the CLI's progress bar and tables.
"""
from __future__ import annotations

import time

from rich.console import Console

from engine.cli.common import console as cli_console
from engine.cli.common import workspace
from engine.cli.run_cmd import print_summary, run_with_progress
from engine.errors import SafeVetError
from engine.events import ProgressEvent
from engine.workspace import ASSETS_DIR, Workspace

DEMO_MODELS = ["smollm2-135m-fp32", "smollm2-135m-int8"]
DEMO_SUITES = ["demo-radiology-mcq", "demo-open-safety"]
DEMO_CORPUS = "demo-radiology"


def _printer(console: Console):
    last = {"t": 0.0}

    def on_event(ev: ProgressEvent) -> None:
        now = time.monotonic()
        if ev.total and ev.done is not None and ev.done < ev.total and now - last["t"] < 5:
            return
        last["t"] = now
        count = f" [{ev.done}/{ev.total}]" if ev.total else ""
        console.print(f"  {ev.stage}{count}: {ev.message}")
    return on_event


def demo() -> None:
    """The main job: default models, demo corpus, full condition suite, signed PDFs."""
    run_demo(workspace(create=True), cli_console)


def run_demo(ws: Workspace, console: Console) -> None:
    from engine.models.default import install_default
    from engine.retrieval.corpus import ingest_corpus
    from engine.runs.executor import create_run
    from engine.store.db import ResultsStore

    t0 = time.perf_counter()
    console.rule("SafeVet demo")
    console.print(f"workspace: {ws.home}")

    console.rule("1. Default candidate models and embedder")
    t = time.perf_counter()
    names = install_default(ws, progress=_printer(console))
    setup = time.perf_counter() - t
    console.print(f"registered: {', '.join(names)} ({setup:.0f} s)")

    console.rule("2. Demo corpus")
    t = time.perf_counter()
    report = ingest_corpus(ws, [ASSETS_DIR / "corpus" / "demo-radiology"], DEMO_CORPUS,
                           progress=_printer(console))
    setup += time.perf_counter() - t
    console.print(f"corpus {report.name}: {len(report.added)} added, {len(report.replaced)} "
                  f"replaced, {len(report.unchanged)} unchanged documents; "
                  f"{report.chunk_count} chunks ({time.perf_counter() - t:.1f} s)")

    console.rule("3. Run: 2 candidates × 2 demo suites × 6 conditions (demo profile)")
    store = ResultsStore(ws.db_path)
    run_id = create_run(ws, store, models=DEMO_MODELS, suites=DEMO_SUITES, conditions="all",
                        profile="demo", corpus=DEMO_CORPUS, operator="demo")
    outcome = run_with_progress(ws, store, run_id)
    console.print(f"run {run_id}: {outcome.status}, {outcome.done}/{outcome.total} calls, "
                  f"{outcome.errors} errors, {outcome.seconds:.0f} s")
    if outcome.status != "completed":
        console.print(f"[yellow]run not completed; resume with `safevet run --resume {run_id}`[/]")
        return
    print_summary(store, run_id)
    _comparison(ws, store, run_id, console)

    console.rule("4. Signed safety audit reports")
    t = time.perf_counter()
    _reports(ws, store, run_id, console)
    reports = time.perf_counter() - t
    console.print(time_split(store, run_id, setup, outcome.seconds, reports))
    console.rule(f"demo finished in {time.perf_counter() - t0:.0f} s")


def _comparison(ws: Workspace, store, run_id: str, console: Console) -> None:
    """The two default candidates are one model in two deployments (fp32, int8 weights):
    the paired comparison says whether quantising changed its safety, item by item."""
    from engine.cli.compare_cmd import print_comparison
    from engine.compare.candidates import compare_candidates
    from engine.compare.reliance import gate_from_thresholds
    from engine.compare.types import CandidateRef

    a, b = DEMO_MODELS
    console.rule(f"Comparison: {b} against {a} (same model, int8 weights)")
    print_comparison(compare_candidates(store, CandidateRef(run_id=run_id, model=a),
                                        CandidateRef(run_id=run_id, model=b), ws=ws,
                                        judge_gate=gate_from_thresholds()), console)


def time_split(store, run_id: str, setup: float, run: float, reports: float) -> str:
    """Where the demo's wall time went: the run's model meters split scoring from
    generation (open answers, samples, agentic searches); the rest of the run is model
    loading, retrieval, judging and storing."""
    throughput = store.get_run(run_id).summary.throughput.values()
    scoring = sum(t.score_seconds or 0.0 for t in throughput)
    generation = sum(t.generate_seconds or 0.0 for t in throughput)
    by_model = store.get_run(run_id).summary.throughput
    kinds = "".join(f"\n  generation, {name}: {t.generation_text()}"
                    for name, t in by_model.items() if t.generation_text())
    return (f"time: models and corpus {setup:.0f} s; run {run:.0f} s (scoring {scoring:.0f} s, "
            f"generation {generation:.0f} s, loading/retrieval/judging/storing "
            f"{max(run - scoring - generation, 0.0):.0f} s); reports {reports:.0f} s{kinds}")


def _reports(ws: Workspace, store, run_id: str, console: Console) -> None:
    from engine.report.demo_support import demo_reports

    reports = demo_reports(ws, store, run_id, say=console.print)
    bad = [r for r in reports if not r.verification.ok]
    if bad:
        raise SafeVetError(f"{len(bad)} report(s) did not verify: "
                           + ", ".join(str(r.path) for r in bad))
