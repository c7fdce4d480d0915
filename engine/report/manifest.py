"""The machine-readable manifest embedded in every report.

It holds every figure and hash the pages show (and more), so an auditor can
re-derive the report, and `verify` can compare it with a fresh computation
from the results store. Serialised canonically (sorted keys) so its sha256,
printed in the appendix, identifies it.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.report.context import ReportContext

MANIFEST_FORMAT = "safevet-report-manifest/1"


def build_manifest(ctx: ReportContext) -> dict[str, Any]:
    run = ctx.run
    return {
        "format": MANIFEST_FORMAT,
        "generated_at": ctx.generated_at,
        "run_id": ctx.run_id,
        "model": ctx.model,
        "run": run.model_dump(mode="json", include={"created_at", "finished_at", "status",
                                                    "profile", "operator", "config",
                                                    "environment", "summary"}),
        "model_manifest": ctx.model_manifest,
        "model_manifest_note": ctx.model_manifest_note or None,
        "suites": [s.as_dict() for s in ctx.suites],
        "corpus": ctx.corpus,
        "corpus_note": ctx.corpus_note or None,
        "metric_params": ctx.params.as_dict(),
        "metrics": json.loads(ctx.metrics.model_dump_json()),
        "thresholds": ctx.thresholds.as_dict(),
        "verdicts": [r.as_dict() for r in ctx.results],
        "judge_concordance": [p.model_dump(mode="json") for p in ctx.judge_pairs],
        "comparison": ctx.comparison.model_dump(mode="json") if ctx.comparison else None,
        "overall_verdict": ctx.overall.value,
        "software": ctx.software,
        "stewardship": ctx.stewardship,
        "signer": {"common_name": ctx.signer, "organisation": ctx.organisation},
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False,
                      default=str).encode("utf-8")


def manifest_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
