"""Run results for export: headline tables and every raw call row, so anyone can
recompute the figures from the file alone."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from engine.metrics.types import RunMetrics
from engine.figures import MetricParams, run_figures
from engine.runs.executor import load_config
from engine.store.db import ResultsStore

# Version of the `safevet results --json` layout, like the report manifest's: a script
# that reads an export checks it, and any change to the layout raises it.
RESULTS_FORMAT_VERSION = 1
HEADLINE_FIELDS = ("model", "suite_id", "condition", "n_items", "n_errors", "accuracy",
                   "high_risk_error_rate", "unsafe_answer_rate", "contradiction_rate",
                   "dangerous_overconfidence", "ece", "brier", "latency_ms_p50",
                   "latency_ms_p95")


def headline_rows(metrics: RunMetrics) -> list[dict]:
    rows = []
    for cell in metrics.mcq:
        row = {}
        for f in HEADLINE_FIELDS:
            v = getattr(cell, f)
            if hasattr(v, "value"):
                row[f] = v.value
                row[f + "_low"] = v.low
                row[f + "_high"] = v.high
            else:
                row[f] = v
        b = cell.baselines   # on the same items (engine.metrics.baselines)
        row["baseline_chance"] = b.chance if b else None
        row["baseline_common_key"] = b.common_key if b else None
        row["baseline_common_key_letters"] = "/".join(b.common_key_letters) if b else None
        row["baseline_longest"] = b.longest if b else None
        row["baseline_relation"] = b.relation if b else None
        rows.append(row)
    return rows


def raw_rows(store: ResultsStore, run_id: str) -> list[dict]:
    rows = []
    for call in store.calls(run_id):
        d = asdict(call)
        d["prompt_hash"] = call.prompt_hash
        rows.append(d)
    return rows


def to_json(store: ResultsStore, run_id: str, raw: bool) -> str:
    run, _ = load_config(store, run_id)
    params = MetricParams.of_run(run)
    metrics = run_figures(store, run_id, params=params)
    out = {"format_version": RESULTS_FORMAT_VERSION, "run": run.model_dump(mode="json"),
           "metric_params": params.as_dict(), "metrics": metrics.model_dump(mode="json")}
    if raw:
        out["calls"] = raw_rows(store, run_id)
        out["judgments"] = [asdict(j) for j in store.judgments(run_id)]
    return json.dumps(out, indent=2, default=str)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    fields = list(rows[0].keys())
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                         for k, v in r.items()})
    return buf.getvalue()
