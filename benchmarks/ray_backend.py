"""`--backend ray` against the local executor on this machine, and what a cluster would take.

    .venv/bin/python benchmarks/ray_backend.py [--items N] [--model NAME] [--cpus 2]

The same run (the default fp32 model, both demo suites, closed-book and clean evidence,
open answers under closed-book; smoke-profile caps, first N items) is executed twice
in a fresh workspace: once by the local executor (one model, `--cpus` onnxruntime
threads) and once on a private single-machine Ray with `--cpus` single-thread replicas.
It prints both wall times, the speed-up, whether every stored call row is identical
(latency aside), and the measured cost of one call of each kind on one replica; from
those it estimates CARES-18K (18,478 open prompts) × 6 conditions × 3 models on N
workers. The estimate is for CPU replicas like these, measured here; a GPU worker's
per-call cost must be measured on the GPU (benchmarks/gpu_check.py) and put in the
same formula: wall ≈ calls × seconds per call / N + model load per replica.
Offline once the default model is installed (`make bench` installs it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARES_PROMPTS = 18_478
CONDITIONS = 6
MODELS = 3
FULL_ANSWER_TOKENS = 160       # the full profile's open_max_new_tokens


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def without_latency(value):
    if isinstance(value, dict):
        return {k: without_latency(v) for k, v in value.items() if k != "latency_ms"}
    if isinstance(value, list):
        return [without_latency(v) for v in value]
    return value


def rows(store, run_id: str) -> dict[tuple, str]:
    """Each stored call as canonical JSON, latency and row ids left out."""
    return {call.key: json.dumps(without_latency(
        {k: v for k, v in asdict(call).items() if k not in ("id", "run_id")}), sort_keys=True)
        for call in store.calls(run_id)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=6, help="first N items of each suite")
    ap.add_argument("--model", default="smollm2-135m-fp32")
    ap.add_argument("--cpus", type=int, default=2, help="local threads = Ray replicas")
    ap.add_argument("--models-from", default=str(REPO / ".cache" / "default-workspace"))
    ap.add_argument("--home", default=str(REPO / ".cache" / "bench" / "ray-workspace"))
    args = ap.parse_args()

    from engine.runs.backends import Backend
    from engine.runs.executor import create_run, execute_run
    from engine.store.db import ResultsStore
    from engine.workspace import Workspace

    home = Path(args.home)
    shutil.rmtree(home, ignore_errors=True)
    ws = Workspace.open(home)
    shutil.copytree(Path(args.models_from) / "models" / args.model, ws.models_dir / args.model)
    store = ResultsStore(ws.db_path)
    suites = [str(REPO / "assets" / "suites" / s)
              for s in ("demo-radiology-mcq", "demo-open-safety")]
    overrides = {"item_limit": args.items}
    runs = [create_run(ws, store, models=[args.model], suites=suites,
                       conditions="closed_book,clean_evidence", profile="smoke",
                       overrides=overrides) for _ in range(2)]
    # Warm up: hash-check and open the model once, so neither timed run pays the cold
    # file cache of the first read of the weights.
    from engine.models.registry import load_model
    del_model = load_model(ws, args.model)
    del del_model
    print(f"load average before: {load()}")

    started = time.perf_counter()
    local = execute_run(ws, store, runs[0])
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    on_ray = execute_run(ws, store, runs[1], backend=Backend(name="ray", cpus_per_replica=1))
    ray_s = time.perf_counter() - started
    print(f"load average after: {load()}")

    same = rows(store, runs[0]) == rows(store, runs[1])
    summary = store.get_run(runs[1]).summary
    busy = sum(n.busy_seconds for n in summary.nodes.values())
    meter = summary.throughput[args.model]
    local_meter = store.get_run(runs[0]).summary.throughput[args.model]
    local_busy = (local_meter.score_seconds or 0) + (local_meter.generate_seconds or 0)
    print(f"{local.total} calls ({args.items} items per suite) of {args.model}: local "
          f"{local.status}, ray {on_ray.status}")
    print(f"local, {args.cpus} threads:           {local_s:7.1f} s wall "
          f"(model calls {local_busy:.1f} s)")
    print(f"ray, {args.cpus} × 1-thread replicas:  {ray_s:7.1f} s wall "
          f"(replica busy {busy:.1f} s in all; the rest is starting Ray and loading "
          f"{args.cpus} model copies)")
    print(f"speed-up (local / ray wall): {local_s / ray_s:.2f}×; in model calls alone "
          f"(local / (ray replica seconds / {args.cpus})): {local_busy / (busy / args.cpus):.2f}×;"
          f" stored rows identical: {same}")
    for n in summary.nodes.values():
        print(f"  node {n.node}: {n.calls} calls, {n.calls_per_second} calls/s busy")
    opens = [c for c in store.calls(runs[1]) if c.kind == "open" and not c.error]
    open_s = (sum(c.latency_ms for c in opens) / len(opens) / 1000.0) if opens else None
    mcq_s = (meter.score_seconds / meter.scored_items) if meter.scored_items else None
    print(f"measured per call on one 1-thread replica: open answer (smoke: at most 24 new "
          f"tokens) {open_s:.2f} s, MCQ scoring {mcq_s:.3f} s" if open_s and mcq_s else
          "no per-call cost measured")
    if open_s:
        calls = CARES_PROMPTS * CONDITIONS * MODELS
        tokens = sum(c.completion_tokens or 0 for c in opens) / len(opens)
        full_s = open_s * FULL_ANSWER_TOKENS / max(tokens, 1.0)   # answers run to the cap
        print(f"  (answers here averaged {tokens:.0f} new tokens; the full profile allows "
              f"{FULL_ANSWER_TOKENS}: ~{full_s:.1f} s a call if every answer ran to the cap)")
        for workers in (1, 8, 32):
            short_h, full_h = (calls * cost / workers / 3600 for cost in (open_s, full_s))
            print(f"  CARES-18K × {CONDITIONS} conditions × {MODELS} models = {calls:,} open "
                  f"calls on {workers:>2} such CPU replicas: ~{short_h:,.0f} h at this answer "
                  f"length, ≤{full_h:,.0f} h at {FULL_ANSWER_TOKENS} tokens")


if __name__ == "__main__":
    main()
