"""The report as a committee member reads it, page by page (issue 19, item 5).

Checked on the real PDF text and geometry, for a context shaped like the demo's
(demo suite and judge ids, an fp32 model dequantised from a Q4_1 GGUF, open-ended
rates over different numbers of prompts), the rich context of test_report_layout,
and a signed report built from a real results store: page 1 gives the verdict and
its reasons; no page but the last is left near-empty; no id or interval is broken
inside a table cell; every open-ended rate carries its own n; the precision of a
dequantised model is stated as such; the document metadata is set.
"""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from engine.judges.types import HELDOUT, Interval
from engine.metrics.types import Estimate, JudgeAgreement, OpenCellMetrics
from engine.number_format import REPORT, rate, score
from engine.report.context import ReportContext, SuiteInfo
from engine.report.layout import REPORT_LANGUAGE, render_pdf
from engine.report.provenance import precision_text
from engine.report.summary import failing_sentence, not_assessed_sentence
from engine.report.thresholds import Verdict, evaluate, overall
from tests.test_report_layout import rich_context

DEMO_MODEL = "smollm2-135m-fp32"
MCQ_SUITE = "demo-radiology-mcq"
OPEN_SUITE = "demo-open-safety"
JUDGE = "rule-based-v6"
GGUF = "/home/op/.local/share/safevet/cache/default-model/SmolLM2-135M-Instruct.Q4_1.gguf"
MARGIN = 18 * 72 / 25.4          # assets/report/style.toml margin_mm, in points
MIN_FILL = 0.15                  # share of the frame height every page but the last uses


def E(v: float, lo: float, hi: float, n: int) -> Estimate:
    return Estimate(value=v, low=lo, high=hi, n=n)


def demo_like_context() -> ReportContext:
    """The rich context re-labelled as the demo: the ids and shapes the committee saw."""
    ctx = rich_context()
    ctx.model = DEMO_MODEL
    m = ctx.metrics
    m.mcq = [c.model_copy(update={"model": DEMO_MODEL, "suite_id": MCQ_SUITE,
                                  "suite_version": "1.0.0", "n_items": 30, "n_errors": 0,
                                  "high_risk_error_rate": E(0.27, 0.1333, 0.4333, 30),
                                  "accuracy": E(0.3, 0.15, 0.47, 30)}) for c in m.mcq]
    m.paired = [p.model_copy(update={"model": DEMO_MODEL, "suite_id": MCQ_SUITE})
                for p in m.paired]
    m.compute = [c.model_copy(update={"model": DEMO_MODEL, "suite_id": MCQ_SUITE})
                 for c in m.compute]
    m.worst_case.items = [i.model_copy(update={"suite_id": MCQ_SUITE})
                          for i in m.worst_case.items]
    m.open = [OpenCellMetrics(
        model=DEMO_MODEL, suite_id=OPEN_SUITE, suite_version="1.0.0", condition=cond,
        judge=JUDGE, n_items=80, refusal_rate=E(0.55, 0.44, 0.66, 80),
        mean_harmfulness=E(4.5, 4.2, 4.8, 36), harmful_share_ge4=E(0.917, 0.806, 1.0, 36),
        cares_safety_score=E(0.41, 0.3, 0.52, 16), cares_by_method={"direct": 0.5},
        attack_success_by_method={"direct": 0.5}, over_refusal_rate=E(0.0, 0.0, 0.0, 28),
        safe_completion_rate=E(1.0, 1.0, 1.0, 28)) for cond in ("closed_book", "standard_rag")]
    # a judge that passed the judge gate, so the open-ended lines count (test_judge_gate.py)
    m.judges = [JudgeAgreement(judge=JUDGE, n=211, accuracy=0.817, kappa=0.78, split=HELDOUT,
                               kappa_interval=Interval(low=0.7, high=0.85))]
    m.throughput = {DEMO_MODEL: m.throughput[next(iter(m.throughput))]}
    ctx.results = evaluate(m, DEMO_MODEL, ctx.thresholds)
    ctx.overall = overall(ctx.results)
    ctx.run.profile = "demo"
    ctx.suites = [SuiteInfo(id=OPEN_SUITE, name="SafeVet demo: open-ended clinical safety",
                            version="1.0.0", items_sha256="6a" * 32, item_count=80,
                            items_run=80, demonstration=True),
                  SuiteInfo(id=MCQ_SUITE, name="SafeVet demo: radiology MCQ", version="1.0.0",
                            items_sha256="cd" * 32, item_count=30, items_run=30,
                            demonstration=True)]
    ctx.model_manifest = {**ctx.model_manifest, "source": GGUF, "source_kind": "gguf",
                          "precision": "fp32", "quantization": None,
                          "files": {"model.onnx": "aa" * 32, "model.onnx_data": "bb" * 32}}
    ctx.item_options, ctx.stewardship = {}, []
    return ctx


@pytest.fixture(scope="module")
def demo():
    ctx = demo_like_context()
    return ctx, PdfReader(io.BytesIO(render_pdf(ctx)))


@pytest.fixture(scope="module")
def rich():
    ctx = rich_context()
    return ctx, PdfReader(io.BytesIO(render_pdf(ctx)))


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A signed report from a real results store (the fixture run of test_report_build)."""
    from engine.report.build import build_report
    from tests.report_fixtures import MODEL, PASSPHRASE, RUN_ID, make_key, make_run_workspace
    home = tmp_path_factory.mktemp("readable-ws")
    ws, store, suite = make_run_workspace(home)
    try:
        pdf = build_report(ws, store, RUN_ID, MODEL, make_key(home).p12, PASSPHRASE,
                           out_dir=home / "out", n_boot=300)
    finally:
        store.close()
    return PdfReader(str(pdf))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def page_texts(reader: PdfReader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def page_fill(page) -> float:
    """Share of the frame height in use: from the top margin down to the lowest text,
    image or table rule drawn above the running footer."""
    ys: list[float] = []

    def on_text(text, cm, tm, font, size) -> None:
        if text.strip():
            ys.append(tm[5] * cm[3] + tm[4] * cm[1] + cm[5])

    def on_op(op, args, cm, tm) -> None:
        if op == b"Do":
            ys.append(cm[5])
        elif op == b"re" and len(args) == 4:
            ys.append(float(args[1]) * cm[3] + cm[5])

    page.extract_text(visitor_text=on_text, visitor_operand_before=on_op)
    body = [y for y in ys if y > MARGIN * 0.9]
    top = float(page.mediabox.height) - MARGIN
    return (top - min(body)) / (top - MARGIN) if body else 0.0


# -- page 1 ------------------------------------------------------------------------------

def test_page_one_opens_with_the_verdict_and_the_failing_thresholds(demo):
    ctx, reader = demo
    first = flat(page_texts(reader)[0])
    failed = [r for r in ctx.results if r.verdict == Verdict.FAIL]
    assert ctx.overall == Verdict.FAIL and failed
    assert "Verdict: FAIL." in first
    assert f"It fails {len(failed)} of {len(ctx.results)} thresholds:" in first
    assert (f"high-risk error rate on {MCQ_SUITE} under closed-book, conflict evidence, "
            "standard RAG, agentic RAG and max context (upper bound 43.3% > limit 5.0%)") in first
    assert "MedSafetyBench mean harmfulness (1-5) on demo-open-safety" in first
    # the reasons come before the identity tables, and no hash is printed on page 1
    assert first.index("It fails") < first.index("Identity of this evaluation")
    assert not re.search(r"\b[0-9a-f]{64}\b", first)


def test_not_assessed_thresholds_are_named_on_page_one(signed):
    first = flat(page_texts(signed)[0])
    assert "Verdict: FAIL." in first and "It fails 9 of 21 thresholds:" in first
    assert ("12 of 21 thresholds are NOT ASSESSED, which is never a pass: high-risk error "
            "rate, dangerous overconfidence and accuracy under standard RAG, agentic RAG and "
            "max context on radsafe-mini (condition not run)") in first
    assert "(no suite measured it)" in first


def test_sentences_for_a_pass_and_a_partly_assessed_run(demo):
    ctx, _ = demo
    passing = [r for r in ctx.results if r.verdict == Verdict.PASS]
    assert failing_sentence(passing) == f"No threshold fails: it passes all {len(passing)}."
    assert not_assessed_sentence(passing) == ""
    assert failing_sentence([]) == "No threshold was evaluated."


# -- page flow ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["demo", "rich", "signed"])
def test_no_page_but_the_last_is_near_empty(which, request):
    got = request.getfixturevalue(which)
    reader = got if isinstance(got, PdfReader) else got[1]
    fills = [round(page_fill(p), 2) for p in reader.pages]
    assert all(f >= MIN_FILL for f in fills[:-1]), fills


def test_no_heading_ends_a_page(demo, rich, signed):
    """The last text line above a page's footer is never a section heading."""
    headings = {"Identity of this evaluation", "Candidate model", "Suites, corpus and software",
                "Verdict summary", "Open-ended safety thresholds", "Throughput",
                "Fingerprints of what was evaluated (sha256)", "Worst-case items",
                "Open-ended safety results", "CARES: attack success by method",
                "Judges and their measured agreement", "Limitations", "Suite version history",
                "Methodology and metric definitions", "Appendix: raw-figure manifest"}
    for reader in (demo[1], rich[1], signed):
        for n, text in enumerate(page_texts(reader), start=1):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()
                     and "SafeVet clinical safety audit" not in ln]
            assert lines and lines[-1] not in headings, (n, lines[-1])


def _text_positions(page) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []

    def on_text(text, cm, tm, font, size) -> None:
        if text.strip():
            out.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5], text.strip()))

    page.extract_text(visitor_text=on_text)
    return out


@pytest.mark.parametrize("extra_judges", [0, 10])
def test_signature_box_stays_clear_wherever_the_section_lands(extra_judges, demo):
    """The signature section may share the last page with the appendix's end, but
    nothing is ever drawn where the visible signature will be stamped."""
    from engine.report.signing import SIGNATURE_BOX
    if extra_judges:
        ctx = demo_like_context()
        ctx.metrics.judges += [JudgeAgreement(judge=f"judge-{i}", n=1, accuracy=0.5, kappa=0.1)
                               for i in range(extra_judges)]
        reader = PdfReader(io.BytesIO(render_pdf(ctx)))
    else:
        reader = demo[1]
    x0, y0, x1, y1 = SIGNATURE_BOX
    last = _text_positions(reader.pages[-1])
    assert any(t.startswith("Signature") for _, _, t in last)
    inside = [t for x, y, t in last if y0 - 2 <= y <= y1 + 8 and x <= x1]
    assert not inside, inside
    fills = [page_fill(p) for p in reader.pages]
    assert all(f >= MIN_FILL for f in fills[:-1]), fills


# -- cells -------------------------------------------------------------------------------

def _intervals(ctx: ReportContext) -> set[str]:
    """Every '(low–high)' the report prints for an MCQ or open-ended figure."""
    out: set[str] = set()
    for c in ctx.metrics.mcq:
        for e in (c.accuracy, c.high_risk_error_rate, c.unsafe_answer_rate):
            out.add(rate(e, style=REPORT).split(" ", 1)[1])
    for c in ctx.metrics.open:
        for e in (c.refusal_rate, c.harmful_share_ge4, c.safe_completion_rate):
            if e is not None:
                out.add(rate(e, style=REPORT).split(" ", 1)[1])
        if c.mean_harmfulness is not None:
            out.add(score(c.mean_harmfulness, style=REPORT).split(" ", 1)[1])
    return out


def _assert_whole(text: str, tokens: set[str]) -> None:
    """Each token appears as often in the extracted text as in the text with every
    space and line break removed: none of its occurrences is split across lines."""
    spaced, joined = flat(text), re.sub(r"\s+", "", text)
    for token in tokens:
        assert joined.count(token) > 0, token
        assert spaced.count(token) == joined.count(token), token


def test_no_id_or_interval_is_broken_inside_a_cell(demo):
    ctx, reader = demo
    text = "\n".join(page_texts(reader))
    _assert_whole(text, {MCQ_SUITE, OPEN_SUITE, JUDGE, DEMO_MODEL, "100.0%", "(100.0–100.0)",
                         "(80.6–100.0)", "Over-refusal", "SmolLM2-135M-Instruct.Q4_1.gguf"}
                  | _intervals(ctx))
    # nothing that reads like the tail of a split figure starts a line
    for line in text.splitlines():
        assert not re.match(r"^\s*[.–]\d", line), line


def test_rich_and_signed_reports_keep_ids_whole(rich, signed):
    ctx, reader = rich
    _assert_whole("\n".join(page_texts(reader)),
                  {"radsafe-200", "medsafetybench", "cares-demo", "health-orsc", "rules-v1",
                   "onnx/model_part_11_with_a_long_relative_path.onnx_data", "cd" * 32}
                  | _intervals(ctx))
    _assert_whole("\n".join(page_texts(signed)), {"radsafe-mini", "tiny-candidate",
                                                   "CPUExecutionProvider"})


def test_open_ended_table_gives_each_rate_its_own_n(demo):
    _, reader = demo
    page = next(flat(t) for t in page_texts(reader) if "Open-ended safety results" in t
                and "Harm ≥ 4" in t)
    for figure, n in (("55.0% (44.0–66.0)", 80), ("4.50 (4.20–4.80)", 36),
                      ("91.7% (80.6–100.0)", 36), ("0.41 (0.30–0.52)", 16),
                      ("0.0% (0.0–0.0)", 28), ("100.0% (100.0–100.0)", 28)):
        assert f"{figure} n = {n}" in page, (figure, n)
    assert "they count different prompts" in page


def test_verdict_tables_give_the_n_of_each_measured_figure(demo):
    _, reader = demo
    text = flat("\n".join(page_texts(reader)))
    assert "0.41 (0.30–0.52) n = 16" in text                 # open-ended thresholds table
    assert f"{MCQ_SUITE} n = 30 items" in text                # MCQ verdict matrix


# -- precision -------------------------------------------------------------------------

def test_dequantised_gguf_precision_is_stated_on_page_one(demo):
    _, reader = demo
    first = flat(page_texts(reader)[0])
    assert "fp32, dequantised from a Q4_1 GGUF (4-bit; type read from the file name)" in first


def test_precision_wording_claims_no_more_than_is_known():
    base = {"source": GGUF, "source_kind": "gguf", "precision": "fp32"}
    assert precision_text({**base, "source": "C:\\models\\x.Q8_0.gguf"}).startswith(
        "fp32, dequantised from a Q8_0 GGUF (8-bit;")
    assert precision_text({**base, "source": "/m/model.gguf"}) == (
        "fp32, converted from a GGUF whose quantisation type is not recorded")
    assert "an F16 (unquantised) GGUF" in precision_text({**base, "source": "/m/x-f16.gguf"})
    derived = precision_text({**base, "source_kind": "derived", "precision": "int8",
                              "derived_from": DEMO_MODEL}, "bits 8, block_size 32")
    assert derived == (f"int8; quantisation bits 8, block_size 32; quantised from {DEMO_MODEL}, "
                       "whose fp32 weights were dequantised from a Q4_1 GGUF (4-bit; type "
                       "read from the file name)")
    assert precision_text({"source": "/m/hf", "source_kind": "hf_folder",
                           "precision": "fp32"}) == "fp32"


# -- metadata --------------------------------------------------------------------------

def test_document_metadata_language_and_outline(demo):
    _, reader = demo
    assert reader.metadata.title == f"SafeVet clinical safety audit: {DEMO_MODEL}"
    root = reader.trailer["/Root"]
    assert root["/Lang"] == REPORT_LANGUAGE
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert titles[0] == "Verdict and identity" and "Signature" in titles
    assert "Open-ended safety results" in titles
