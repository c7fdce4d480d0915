"""The demo: everything `make demo` does, in order, saying what each step did.

It is the main job of the product end to end on the bundled assets: default
models, demo corpus, both candidates over the demo suites under all six
conditions, a summary table, then one signed and verified PDF per candidate.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console

from engine.events import ProgressEvent
from engine.workspace import ASSETS_DIR, Workspace

DEMO_MODELS = ["smollm2-135m-fp32", "smollm2-135m-int8"]
DEMO_SUITES = ["demo-radiology-mcq", "demo-open-safety"]
DEMO_CORPUS = "demo-radiology"
DEMO_KEY_NAME = "demo-signing.p12"
# The demo key protects nothing real; its passphrase is documented so the demo can run
# unattended. Real keys come from `safevet keys init` with a prompted passphrase.
DEMO_PASSPHRASE = "safevet-demo-key"


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


def run_demo(ws: Workspace, console: Console) -> None:
    from engine.cli.run_cmd import print_summary, run_with_progress
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
    console.print(f"registered: {', '.join(names)} ({time.perf_counter() - t:.0f} s)")

    console.rule("2. Demo corpus")
    t = time.perf_counter()
    report = ingest_corpus(ws, [ASSETS_DIR / "corpus" / "demo-radiology"], DEMO_CORPUS,
                           progress=_printer(console))
    console.print(f"{report}  ({time.perf_counter() - t:.1f} s)")

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

    console.rule("4. Signed safety audit reports")
    _reports(ws, store, run_id, console)
    console.rule(f"demo finished in {time.perf_counter() - t0:.0f} s")


def _reports(ws: Workspace, store, run_id: str, console: Console) -> None:
    from engine.report.api import build_report, verify_report
    from engine.report.keys import create_signing_identity

    passphrase = os.environ.get("SAFEVET_KEY_PASSPHRASE") or DEMO_PASSPHRASE
    key = ws.keys_dir / DEMO_KEY_NAME
    if not key.exists():
        create_signing_identity("SafeVet demonstration (not for clinical use)", key, passphrase)
        console.print(f"no signing key found: generated a DEMO key at {key} "
                      f"(certificate {key.with_suffix('.pem')}); use `safevet keys init` for a real one")
    else:
        console.print(f"using demo key {key}")
    out_dir = ws.reports_dir / run_id
    for model in DEMO_MODELS:
        pdf = build_report(ws, store, run_id, model, key_path=key, passphrase=passphrase,
                           out_dir=out_dir)
        result = verify_report(pdf, key.with_suffix(".pem"), ws=ws)
        status = "[green]verified[/]" if result.ok else f"[red]NOT verified: {result}[/]"
        console.print(f"{model}: {pdf} {status}")
