"""Layout against a hand-made RunMetrics with every section filled (open-ended, judges,
inference-time compute, six conditions, hostile text): pages build, text is extractable,
and awkward input (markup characters, long words, missing records) neither breaks nor
overflows the layout."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader
from reportlab.platypus.doctemplate import LayoutError  # noqa: F401  (raised on overflow)

from engine.metrics.types import (ComputeStrategyMetrics, Estimate, JudgeAgreement,
                                  McqCellMetrics, OpenCellMetrics, PairedComparison, RunMetrics,
                                  WorstCaseAnswer, WorstCaseItem, WorstCaseSummary)
from engine.report.context import ReportContext, SuiteInfo
from engine.figures import MetricParams
from engine.runs.records import RunRecord
from engine.report.layout import render_pdf
from engine.report.thresholds import CONDITIONS, evaluate, load_thresholds, overall

MODEL = "candidate-with-a-rather-long-name-v2.1-int8"


def E(v, lo, hi, n=200):
    return Estimate(value=v, low=lo, high=hi, n=n)


def rich_metrics() -> RunMetrics:
    mcq = []
    for i, cond in enumerate(CONDITIONS):
        acc = 0.6 + 0.05 * i
        bins = [{"lo": b / 10, "hi": (b + 1) / 10, "n": 20, "confidence": b / 10 + 0.05,
                 "accuracy": min(1.0, b / 10 + 0.05 * (i - 2))} for b in range(2, 10)]
        mcq.append(McqCellMetrics(
            model=MODEL, suite_id="radsafe-200", suite_version="1.2.0", condition=cond,
            n_items=200, n_errors=i % 2, accuracy=E(acc, acc - 0.07, acc + 0.07),
            high_risk_error_rate=E(0.12 - 0.015 * i, 0.08 - 0.015 * i, 0.16 - 0.015 * i),
            unsafe_answer_rate=E(0.05, 0.02, 0.08), contradiction_rate=E(0.1, 0.06, 0.14),
            dangerous_overconfidence=E(0.08, 0.05, 0.11), ece=0.12, brier=0.21,
            mean_confidence=0.7, chosen_position_share={"A": 0.5, "B": 0.2, "C": 0.2, "D": 0.1},
            key_position_share={"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25},
            latency_ms_p50=60.0 + i, latency_ms_p95=95.0 + i, calibration_bins=bins))
    paired = [PairedComparison(model=MODEL, suite_id="radsafe-200", metric=m,
                               condition_a="closed_book", condition_b=c,
                               difference=E(0.05, -0.02, 0.12))
              for m in ("accuracy", "high_risk_error_rate") for c in CONDITIONS[1:]]
    long_q = ("<b>Not bold</b> & 'quoted' " + "A patient presents with a very long history "
              * 30 + "Supercalifragilisticexpialidocious" * 6)
    worst = WorstCaseSummary(total_high_risk_errors=57, worst_decile_high_risk_share=0.41,
                             items=[WorstCaseItem(
                                 item_id=f"rad-{k:03d}", suite_id="radsafe-200",
                                 question=long_q if k == 0 else f"Question {k}?", answer="B",
                                 dangerous_failures=6 - k % 6, high_risk_errors=3, cells=6,
                                 answers=[WorstCaseAnswer(model=MODEL, condition=c, chosen="A",
                                                          confidence=0.93,
                                                          labels=["high_risk", "unsafe"])
                                          for c in CONDITIONS]) for k in range(12)])
    open_cells = [
        OpenCellMetrics(model=MODEL, suite_id="medsafetybench", suite_version="1.0.0",
                        condition="closed_book", judge="rules-v1", n_items=90, n_unparseable=2,
                        refusal_rate=E(0.7, 0.6, 0.8), mean_harmfulness=E(1.9, 1.7, 2.1),
                        harmful_share_ge4=E(0.1, 0.05, 0.16)),
        OpenCellMetrics(model=MODEL, suite_id="cares-demo", suite_version="1.0.0",
                        condition="closed_book", judge="rules-v1", n_items=64,
                        cares_safety_score=E(0.82, 0.75, 0.88),
                        cares_by_method={"direct": 0.9, "role_play": 0.6},
                        attack_success_by_method={"direct": 0.05, "role_play": 0.3},
                        cares_level0_over_refusal=E(0.2, 0.1, 0.3)),
        OpenCellMetrics(model=MODEL, suite_id="health-orsc", suite_version="1.0.0",
                        condition="closed_book", judge="rules-v1", n_items=28,
                        over_refusal_rate=E(0.25, 0.1, 0.4), safe_completion_rate=E(0.5, 0.3, 0.7)),
    ]
    compute = [ComputeStrategyMetrics(
        model=MODEL, suite_id="radsafe-200", condition="closed_book", strategy="permutations",
        n_variants=4, n_items=200, plain_accuracy=E(0.6, 0.53, 0.67),
        aggregated_accuracy=E(0.63, 0.56, 0.7), accuracy_gain=E(0.03, -0.01, 0.07),
        plain_high_risk_error_rate=E(0.12, 0.08, 0.16),
        aggregated_high_risk_error_rate=E(0.11, 0.07, 0.15),
        plain_dangerous_overconfidence=E(0.08, 0.05, 0.11),
        aggregated_dangerous_overconfidence=E(0.07, 0.04, 0.1), extra_calls=600)]
    return RunMetrics(run_id="run-rich", tau=0.8, mcq=mcq, paired=paired, worst_case=worst,
                      open=open_cells, judges=[JudgeAgreement(judge="rules-v1", n=40,
                                                              accuracy=0.85, kappa=0.71)],
                      throughput={MODEL: {"calls": 2000, "errors": 3, "model_seconds": 64.0,
                                          "items_per_s": 31.2, "tokens_per_s": 48.0}},
                      compute=compute)


def rich_context() -> ReportContext:
    metrics = rich_metrics()
    ts = load_thresholds()
    results = evaluate(metrics, MODEL, ts)
    files = {f"onnx/model_part_{i:02d}_with_a_long_relative_path.onnx_data": f"{i:02x}" * 32
             for i in range(12)}
    return ReportContext(
        run=RunRecord.model_validate({"id": "run-rich", "profile": "full", "operator": "O'Brien & <IT>",
             "created_at": "2026-11-21T10:00:00+00:00", "finished_at": None,
             "status": "completed",
             "config": {"conditions": list(CONDITIONS), "corpus": "radiology-guidelines"},
             "environment": {}, "summary": None}),
        model=MODEL, metrics=metrics, params=MetricParams(), thresholds=ts, results=results,
        overall=overall(results),
        suites=[SuiteInfo(id="radsafe-200", name="RadSafe-200", version="1.2.0",
                          items_sha256="cd" * 32, item_count=200, items_run=200,
                          demonstration=False)],
        model_manifest={"source": "/imports/" + "x" * 150 + ".gguf", "source_kind": "gguf",
                        "source_sha256": "ef" * 32, "precision": "int8",
                        "quantization": {"bits": 8, "block_size": 32},
                        "architecture": "LlamaForCausalLM", "model_type": "llama",
                        "parameter_count": 134515008, "context_length": 8192, "files": files,
                        "export_tool_versions": {"optimum-onnx": "0.1.0"}},
        corpus={"name": "radiology-guidelines", "documents": [{}] * 40, "chunk_count": 2000,
                "updated_at": "2026-11-20", "embedder": {"model": "all-MiniLM-L6-v2",
                                                         "dimensions": 384}},
        software={"reportlab": "5.1.0"}, signer="Signer", organisation="Hospital",
        manifest_sha256="00" * 32,
        item_options={("radsafe-200", "rad-000"): {"A": "Give it " * 40, "B": "Don't"}},
        stewardship=[stewardship_record()])


def stewardship_record() -> dict:
    from engine.stewardship.appendix import StewardshipAppendix, VersionRecord
    from engine.stewardship.review import Decision
    return StewardshipAppendix(
        suite_id="radsafe-200",
        versions=[VersionRecord(from_version="1.1.0", to_version="1.2.0", from_sha256="aa" * 32,
                                to_sha256="cd" * 32, applied_by="Dr Lee", applied_at="2026-11-01",
                                items=["rad-017"], review_ids=[3])],
        decisions=[Decision(id=3, suite_id="radsafe-200", suite_version="1.1.0",
                            item_id="rad-017", reviewer="Dr Lee", role="radiologist",
                            decision="change_key", payload={"answer": "C"},
                            rationale="Key contradicts the 2024 guideline", status="applied",
                            created_at="2026-10-30", second_reviewer="Dr Okafor",
                            second_role="radiologist", applied_version="1.2.0")],
        items_changed=["rad-017"], reviewers=["Dr Lee (radiologist)", "Dr Okafor (radiologist)"],
    ).model_dump(mode="json")


def test_rich_report_renders_every_section():
    ctx = rich_context()
    pdf = render_pdf(ctx)
    reader = PdfReader(io.BytesIO(pdf))
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    for needle in ("Open-ended safety results", "CARES: attack success by method",
                   "rules-v1", "85.0%", "0.71", "Inference-time compute",
                   "<b>Not bold</b> & 'quoted'", "O'Brien & <IT>", "Max context",
                   "41.0%", "not recorded", "Limitations", "Methodology",
                   "radiology-guidelines: 40 documents, 2000 chunks",
                   "model_part_11", "Label stewardship: radsafe-200",
                   "Key contradicts the 2024 guideline", "Dr Okafor (radiologist)"):
        assert needle in text, needle
    # the full profile with every item run and every condition is not flagged as reduced
    assert "smaller than a full evaluation" not in text
    # every page has the running footer (nothing pushed the frame off the page)
    assert all("SafeVet clinical safety audit" in (p.extract_text() or "") for p in reader.pages)


def test_reduced_profile_is_stated_on_the_cover():
    ctx = rich_context()
    ctx.run.profile = "smoke"
    ctx.suites[0].items_run = 4
    first = PdfReader(io.BytesIO(render_pdf(ctx))).pages[0].extract_text()
    flat = re.sub(r"\s+", " ", first)
    assert "Run profile: smoke" in flat and "4 of 200 items" in flat
