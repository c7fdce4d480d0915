"""Page layout of the safety audit report (reportlab platypus).

Written for a clinical governance committee first and an auditor second: the
verdict and what was (and was not) tested come before the evidence, every
table cell is a wrapping Paragraph so nothing runs off the page, and every
figure printed here is also in the embedded manifest and the raw-figure
appendix.
"""
from __future__ import annotations

import io
from typing import Any, Iterable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (CondPageBreak, Image, KeepTogether, PageBreak, Paragraph,
                                SimpleDocTemplate, Spacer, Table, TableStyle)

from engine.metrics.types import Estimate, McqCellMetrics
from engine.report import charts
from engine.report.context import NOT_RECORDED, ReportContext
from engine.report.rawfigures import figure_lines
from engine.report.style import Style, load_style
from engine.report.thresholds import RULE_TEXT, ThresholdResult, Verdict

WORST_CASE_SHOWN = 10
QUESTION_CHARS = 600


# -- small formatting helpers -------------------------------------------------------------

def esc(value: Any) -> str:
    """Escape for reportlab's mini-markup: questions and answers are arbitrary text."""
    return escape("" if value is None else str(value))


def pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def est_pct(e: Estimate | None) -> str:
    """'12.5% (4.0–25.0)': the point estimate with its 95% interval, in percent."""
    if e is None or e.value is None:
        return "not measured"
    if e.low is None or e.high is None:
        return f"{e.value * 100:.1f}% (no CI)"
    return f"{e.value * 100:.1f}% ({e.low * 100:.1f}–{e.high * 100:.1f})"


def est_num(e: Estimate | None, digits: int = 2) -> str:
    if e is None or e.value is None:
        return "not measured"
    if e.low is None or e.high is None:
        return f"{e.value:.{digits}f} (no CI)"
    return f"{e.value:.{digits}f} ({e.low:.{digits}f}–{e.high:.{digits}f})"


def num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _compact(value: Any) -> str:
    """A settings dict as 'key value, key value' (lists joined), for one table cell."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return str(value)


class _Builder:
    """Collects flowables; one method per report section."""

    def __init__(self, ctx: ReportContext, style: Style) -> None:
        self.ctx = ctx
        self.st = style
        self.s = style.styles
        self.story: list = []

    # -- primitives -----------------------------------------------------------------------
    def p(self, text: str, style: str = "body") -> Paragraph:
        return Paragraph(text, self.s[style])

    def add(self, *flowables) -> None:
        self.story.extend(flowables)

    def h1(self, text: str) -> None:
        self.add(self.p(esc(text), "h1"))

    def h2(self, text: str) -> None:
        self.add(CondPageBreak(60 * mm), self.p(esc(text), "h2"))

    def table(self, header: list[str], rows: Iterable[list[Any]], widths: list[float],
              mono_cols: Iterable[int] = (), extra: list | None = None) -> Table:
        """A table whose every cell wraps; widths are fractions of the frame width."""
        total = self.st.frame_width
        mono = set(mono_cols)
        data = [[self.p(esc(h), "cellb") for h in header]]
        for row in rows:
            data.append([c if isinstance(c, Paragraph) else
                         self.p(esc(c), "mono" if i in mono else "cell")
                         for i, c in enumerate(row)])
        t = Table(data, colWidths=[w * total for w in widths], repeatRows=1, hAlign="LEFT")
        cmds = [("GRID", (0, 0), (-1, -1), 0.4, self.st.colours["table_grid"]),
                ("BACKGROUND", (0, 0), (-1, 0), self.st.colours["table_header"]),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
        t.setStyle(TableStyle(cmds + (extra or [])))
        return t

    def kv(self, rows: list[tuple[str, Any]], widths=(0.28, 0.72), mono_keys=()) -> Table:
        total = self.st.frame_width
        data = [[self.p(esc(k), "cellb"),
                 v if isinstance(v, Paragraph) else
                 self.p(esc(v if v not in (None, "") else NOT_RECORDED),
                        "mono" if k in mono_keys else "cell")] for k, v in rows]
        t = Table(data, colWidths=[w * total for w in widths], hAlign="LEFT")
        t.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, self.st.colours["table_grid"]),
            ("BACKGROUND", (0, 0), (0, -1), self.st.colours["table_header"]),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
        return t

    def image(self, png: bytes | None, width_frac: float = 1.0) -> None:
        if png is None:
            return
        img = Image(io.BytesIO(png))
        w = self.st.frame_width * width_frac
        scale = w / img.imageWidth
        img.drawWidth, img.drawHeight = w, img.imageHeight * scale
        max_h = self.st.page_size[1] - 2 * self.st.margin - 40 * mm
        if img.drawHeight > max_h:
            f = max_h / img.drawHeight
            img.drawWidth, img.drawHeight = img.drawWidth * f, max_h
        self.add(KeepTogether([img, Spacer(1, 3 * mm)]))

    def verdict_colour(self, v: Verdict) -> colors.Color:
        return {Verdict.PASS: self.st.colours["pass"], Verdict.FAIL: self.st.colours["fail"]}.get(
            v, self.st.colours["not_assessed"])

    def verdict_par(self, v: Verdict, style: str = "cellb") -> Paragraph:
        colour = "#" + self.verdict_colour(v).hexval()[2:]
        return self.p(f'<font color="{colour}">{esc(v.value)}</font>', style)

    # -- sections -------------------------------------------------------------------------
    def cover(self) -> None:
        ctx = self.ctx
        self.add(self.p("Clinical safety audit report", "title"),
                 self.p(f"Candidate model: <b>{esc(ctx.model)}</b>", "h1"),
                 self.p(f"Overall verdict: {self.verdict_par(ctx.overall, 'verdict').text}",
                        "verdict"))
        if ctx.reduced_profile:
            runs = "; ".join(f"{s.id} {s.version}: {s.items_run} of {s.item_count} items"
                             + (" (demonstration suite)" if s.demonstration else "")
                             for s in ctx.suites)
            desc = ctx.config.get("profile_description") or ""
            banner = Table([[self.p(
                f"<b>Run profile: {esc(ctx.profile)}.</b> This run is smaller than a full "
                f"evaluation. {esc(desc)} Suites: {esc(runs) or 'none recorded'}. "
                f"Conditions run: {esc(', '.join(ctx.conditions_run) or 'none')}.", "cell")]],
                colWidths=[self.st.frame_width])
            banner.setStyle(TableStyle([
                ("BOX", (0, 0), (-1, -1), 1, self.st.colours["not_assessed"]),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fff6d6"))]))
            self.add(banner, Spacer(1, 3 * mm))
        run = ctx.run
        host = ctx.environment.get("host") or {}
        hardware = ", ".join(x for x in [
            str(host.get("processor") or ""),
            f"{host['physical_cpus']} physical / {host['logical_cpus']} logical CPUs"
            if host.get("logical_cpus") else "",
            f"{host['memory_gib']} GiB RAM" if host.get("memory_gib") else "",
            str(host.get("platform") or "")] if x) or NOT_RECORDED
        mm_ = ctx.model_manifest or {}
        params = mm_.get("parameter_count")
        self.h2("Identity of this evaluation")
        self.add(self.kv([
            ("Run id / profile", f"{ctx.run_id} / {ctx.profile}"),
            ("Operator", run.get("operator")),
            ("Run started / finished (UTC)",
             f"{run.get('created_at') or NOT_RECORDED} / {run.get('finished_at') or NOT_RECORDED}"
             f" (status {run.get('status') or NOT_RECORDED})"),
            ("Report generated (UTC)", ctx.generated_at),
            ("Signed by", f"{ctx.signer} ({ctx.organisation})" if ctx.signer else NOT_RECORDED),
            ("Execution provider", ctx.execution_provider),
            ("Hardware", hardware),
        ]))
        self.h2("Candidate model")
        if ctx.model_manifest is None:
            self.add(self.p(f"<i>Model manifest not available: {esc(ctx.model_manifest_note)}</i>",
                            "muted"))
        else:
            self.add(self.kv([
                ("Source", f"{mm_.get('source')} ({mm_.get('source_kind', NOT_RECORDED)}"
                 + (f", derived from {mm_['derived_from']}" if mm_.get("derived_from") else "")
                 + ")"),
                ("Source sha256", mm_.get("source_sha256")),
                ("Precision", f"{mm_.get('precision')}"
                 + (f"; quantisation {_compact(mm_.get('quantization'))}"
                    if mm_.get("quantization") else "")),
                ("Architecture", f"{mm_.get('architecture')} ({mm_.get('model_type', '')}), "
                 + (f"{params:,} parameters" if isinstance(params, int) else
                    f"parameters {params or NOT_RECORDED}")
                 + f", context {mm_.get('context_length') or NOT_RECORDED} tokens"),
                ("Export tools", ", ".join(f"{k} {v}" for k, v in
                                           (mm_.get("export_tool_versions") or {}).items())),
                ("Imported", mm_.get("created_at")),
            ], mono_keys=("Source sha256",)))
            files = sorted((mm_.get("files") or {}).items())
            if files:
                self.add(Spacer(1, 2 * mm), self.table(["Model file", "sha256"], files,
                                                       [0.38, 0.62], mono_cols=(1,)))
        self.h2("Suites, corpus and software")
        self.add(self.table(
            ["Suite", "Version", "Items run / in suite", "Items sha256"],
            [[f"{s.id} — {s.name}" + (" (demonstration)" if s.demonstration else ""),
              s.version, f"{s.items_run} / {s.item_count}", s.items_sha256]
             for s in ctx.suites] or [["none recorded", "", "", ""]],
            [0.26, 0.08, 0.11, 0.55], mono_cols=(3,)))
        self.add(Spacer(1, 2 * mm))
        corpus = ctx.corpus
        if corpus:
            emb = corpus.get("embedder") or {}
            self.add(self.kv([
                ("Retrieval corpus", f"{corpus.get('name')}: {len(corpus.get('documents') or [])}"
                 f" documents, {corpus.get('chunk_count')} chunks, store "
                 f"{corpus.get('store', 'chromadb')}, updated {corpus.get('updated_at')}"),
                ("Embedder", f"{emb.get('name', NOT_RECORDED)}"
                 + (f", {emb['dimensions']} dimensions" if emb.get("dimensions") else "")
                 + (f", model sha256 {emb['model_sha256']}" if emb.get("model_sha256") else "")),
            ]))
        else:
            self.add(self.kv([("Retrieval corpus", ctx.corpus_note or "none used by this run")]))
        self.add(Spacer(1, 2 * mm))
        run_sw = ctx.environment.get("software") or {}
        at_run = ", ".join(f"{n} {v}" for n, v in sorted(run_sw.items())) or NOT_RECORDED
        changed = [f"{n} {run_sw.get(n, 'absent')} → {v}" for n, v in sorted(ctx.software.items())
                   if run_sw.get(n) != v]
        report_sw = ", ".join(f"{n} {v}" for n, v in sorted(ctx.software.items()))
        self.add(self.kv([
            ("Software at run time", at_run),
            ("Changed at report time", ", ".join(changed) or "none") if run_sw else
            ("Software at report time", report_sw or NOT_RECORDED),
        ]))

    def verdict_page(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Verdict summary")
        counts = {v: sum(1 for r in ctx.results if r.verdict == v) for v in
                  (Verdict.PASS, Verdict.FAIL, Verdict.NOT_ASSESSED)}
        self.add(self.p(f"Overall: {self.verdict_par(ctx.overall, 'verdict').text}", "verdict"),
                 self.p(f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, "
                        f"{counts[Verdict.NOT_ASSESSED]} not assessed, of {len(ctx.results)} "
                        f"threshold checks."),
                 self.p(f"<b>Rule.</b> {esc(RULE_TEXT)}"),
                 self.p(f"Thresholds: {esc(ctx.thresholds.name or ctx.thresholds.path)} "
                        f"{esc(ctx.thresholds.version)}, file sha256 "
                        f"<font name='SV-Mono' size='6.5'>{ctx.thresholds.sha256}</font>",
                        "muted"),
                 Spacer(1, 2 * mm))
        mcq = [r for r in ctx.results if r.area == "mcq"]
        if mcq:
            self.h2("Multiple-choice thresholds, by deployment condition")
            self.add(self._mcq_verdict_matrix(mcq), Spacer(1, 3 * mm))
        other = [r for r in ctx.results if r.area != "mcq"]
        if other:
            self.h2("Open-ended safety thresholds")
            rows = []
            for r in other:
                rows.append([r.label, f"{r.suite_id} / {charts.cond_label(r.condition)}",
                             self._limit(r), est_pct(r.estimate) if r.percent
                             else est_num(r.estimate), self._bound(r),
                             self.verdict_par(r.verdict)])
            self.add(self.table(["Requirement", "Suite / condition", "Limit",
                                 "Measured (95% CI)", "Bound used", "Verdict"],
                                rows, [0.2, 0.2, 0.08, 0.19, 0.19, 0.14]))

    @staticmethod
    def _limit(r: ThresholdResult) -> str:
        return (f"{'≤' if r.kind == 'max' else '≥'} "
                + (pct(r.limit) if r.percent else f"{r.limit:g}"))

    @staticmethod
    def _bound(r: ThresholdResult) -> str:
        if r.bound is None:
            return f"— ({r.reason})"
        b = pct(r.bound) if r.percent else f"{r.bound:.2f}"
        return f"{b} ({r.reason})"

    def _mcq_verdict_matrix(self, results: list[ThresholdResult]) -> Table:
        """One row per suite × condition, one column per requirement: fits one page."""
        keys: list[str] = []
        for r in results:
            if r.key not in keys:
                keys.append(r.key)
        labels = {r.key: f"{r.label} ({'max' if r.kind == 'max' else 'min'})" for r in results}
        cells: dict[tuple[str, str], dict[str, ThresholdResult]] = {}
        for r in results:
            cells.setdefault((r.suite_id, r.condition), {})[r.key] = r
        rows = []
        for (suite_id, cond), by_key in cells.items():
            row: list[Any] = [self.p(f"<b>{esc(charts.cond_label(cond))}</b><br/>{esc(suite_id)}",
                                     "cell")]
            for key in keys:
                r = by_key.get(key)
                if r is None:
                    row.append("—")
                    continue
                colour = "#" + self.verdict_colour(r.verdict).hexval()[2:]
                measured = est_pct(r.estimate) if r.percent else est_num(r.estimate)
                detail = (f"limit {esc(self._limit(r))}; {esc(self._bound(r))}"
                          if r.estimate is not None and r.estimate.value is not None
                          else esc(r.reason))
                row.append(self.p(f'<font color="{colour}"><b>{esc(r.verdict.value)}</b></font>'
                                  f"<br/>{esc(measured) if r.bound is not None else ''}"
                                  f"{'<br/>' if r.bound is not None else ''}{detail}", "cell"))
            rows.append(row)
        width = 0.8 / max(1, len(keys))
        return self.table(["Condition / suite"] + [labels[k] for k in keys], rows,
                          [0.2] + [width] * len(keys))

    def mcq_section(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Multiple-choice results by deployment condition")
        if not ctx.metrics.mcq:
            self.add(self.p("No multiple-choice suite was scored for this model in this run."))
            return
        self.add(self.p(
            "Each figure is the share of items, with its 95% bootstrap interval in brackets. "
            f"Dangerous overconfidence uses τ = {ctx.metrics.tau:g} (SafeVet's operational "
            "definition, see Methodology). Latency is per scored item."))
        by_suite: dict[str, list[McqCellMetrics]] = {}
        order = {c: i for i, c in enumerate(charts.CONDITION_LABELS)}
        for c in ctx.metrics.mcq:
            by_suite.setdefault(f"{c.suite_id}@{c.suite_version}", []).append(c)
        for key, cells in by_suite.items():
            cells.sort(key=lambda c: order.get(c.condition, 99))
            suite_id = cells[0].suite_id
            self.h2(f"Suite {key}")
            rows = [[charts.cond_label(c.condition),
                     f"{c.n_items}" + (f" ({c.n_errors} failed)" if c.n_errors else ""),
                     est_pct(c.accuracy), est_pct(c.high_risk_error_rate),
                     est_pct(c.unsafe_answer_rate), est_pct(c.contradiction_rate),
                     est_pct(c.dangerous_overconfidence),
                     f"{num(c.ece, 3)} / {num(c.brier, 3)}",
                     f"{num(c.latency_ms_p50, 0)} / {num(c.latency_ms_p95, 0)}"]
                    for c in cells]
            self.add(self.table(["Condition", "n", "Accuracy", "High-risk error",
                                 "Unsafe answer", "Contradicts evidence",
                                 f"Dangerous (conf. ≥ {ctx.metrics.tau:g})", "ECE / Brier",
                                 "Latency p50 / p95 ms"],
                                rows, [0.12, 0.06, 0.125, 0.125, 0.125, 0.125, 0.125, 0.09,
                                       0.105]))
            self.add(Spacer(1, 3 * mm))
            self.image(charts.metrics_by_condition(cells, key, ctx.metrics.tau))
            self.image(charts.calibration(cells, key), 0.85)
            self.image(charts.position_bias(cells, key))
            paired = [p for p in ctx.metrics.paired if p.suite_id == suite_id]
            if paired:
                self.h2(f"Condition comparisons, {suite_id} (paired, same items)")
                self.image(charts.condition_deltas(paired, suite_id))
                self.add(self.table(
                    ["Metric", "Comparison", "Difference (95% CI), points", "Items"],
                    [[p.metric.replace("_", " "),
                      f"{charts.cond_label(p.condition_b)} − {charts.cond_label(p.condition_a)}",
                      self._pp(p.difference), p.difference.n] for p in paired],
                    [0.25, 0.38, 0.25, 0.12]))
        compute = ctx.metrics.compute
        if compute:
            self.h2("Inference-time compute (option permutations, sampling)")
            self.add(self.table(
                ["Suite / condition", "Strategy", "Items", "Accuracy plain → aggregated",
                 "Gain (95% CI), points", "High-risk plain → aggregated", "Extra calls"],
                [[f"{c.suite_id} / {charts.cond_label(c.condition)}", c.strategy,
                  c.n_items, f"{est_pct(c.plain_accuracy)} → {est_pct(c.aggregated_accuracy)}",
                  self._pp(c.accuracy_gain),
                  f"{est_pct(c.plain_high_risk_error_rate)} → "
                  f"{est_pct(c.aggregated_high_risk_error_rate)}", c.extra_calls]
                 for c in compute],
                [0.17, 0.11, 0.07, 0.2, 0.15, 0.2, 0.1]))

    @staticmethod
    def _pp(e: Estimate) -> str:
        if e.value is None:
            return "not measured"
        if e.low is None or e.high is None:
            return f"{e.value * 100:+.1f}"
        return f"{e.value * 100:+.1f} ({e.low * 100:+.1f} to {e.high * 100:+.1f})"

    def worst_case(self) -> None:
        ctx = self.ctx
        w = ctx.metrics.worst_case
        self.add(PageBreak())
        self.h1("Worst-case items")
        if w is None or not w.items:
            self.add(self.p("No multiple-choice answers to rank."))
            return
        share = pct(w.worst_decile_high_risk_share)
        self.add(self.p(
            f"Items ranked by how many condition cells the model failed dangerously in "
            f"(answered wrong with an option labelled high-risk or unsafe, at any confidence; "
            f"confidence ≥ τ = {ctx.metrics.tau:g} marks dangerous overconfidence). "
            f"High-risk errors in total: {w.total_high_risk_errors}; share held by the worst "
            f"10% of items: {share}. The {min(WORST_CASE_SHOWN, len(w.items))} worst are shown."))
        for rank, item in enumerate(w.items[:WORST_CASE_SHOWN], start=1):
            options = ctx.item_options.get((item.suite_id, item.item_id), {})
            q = item.question if len(item.question) <= QUESTION_CHARS else \
                item.question[:QUESTION_CHARS] + " […]"
            key_text = f"{item.answer}: {options[item.answer]}" if item.answer in options \
                else item.answer
            head = [self.p(f"<b>#{rank} {esc(item.item_id)}</b> ({esc(item.suite_id)}) — "
                           f"dangerous failures in {item.dangerous_failures} of {item.cells} "
                           f"cells, high-risk errors {item.high_risk_errors}", "body"),
                    self.p(f"<b>Question.</b> {esc(q)}", "cell"),
                    self.p(f"<b>Correct answer.</b> {esc(key_text)}", "cell"),
                    Spacer(1, 1.5 * mm)]
            rows = []
            for a in item.answers:
                chosen = "no answer" if a.chosen is None else (
                    f"{a.chosen}: {options[a.chosen]}" if a.chosen in options else a.chosen)
                rows.append([charts.cond_label(a.condition), chosen,
                             "—" if a.confidence is None else f"{a.confidence:.2f}",
                             ", ".join(a.labels).replace("_", " ") or "none"])
            tbl = self.table(["Condition", "Model's answer", "Confidence", "Labels hit"],
                             rows or [["—", "no stored answers", "", ""]],
                             [0.17, 0.5, 0.12, 0.21])
            self.add(KeepTogether(head + [tbl, Spacer(1, 4 * mm)]))

    def open_section(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Open-ended safety results")
        cells = ctx.metrics.open
        if not cells:
            self.add(self.p("No open-ended suite was judged for this model in this run "
                            "(harmful requests, adversarial prompts and benign boundary prompts "
                            "were not assessed)."))
        else:
            self.add(self.p("Rates with 95% bootstrap intervals. Harmfulness is the "
                            "MedSafetyBench 1–5 scale (lower is safer); the CARES Safety Score "
                            "is 0–1 (higher is safer)."))
            self.add(self.table(
                ["Suite / condition", "Judge", "n (no verdict)", "Refusal rate",
                 "Mean harm (1–5)", "Harm ≥ 4", "CARES score (0–1)",
                 "Over- refusal", "Safe completion"],
                [[f"{c.suite_id} {c.suite_version} / {charts.cond_label(c.condition)}",
                  c.judge, f"{c.n_items} ({c.n_unparseable})", est_pct(c.refusal_rate),
                  est_num(c.mean_harmfulness), est_pct(c.harmful_share_ge4),
                  est_num(c.cares_safety_score),
                  est_pct(c.over_refusal_rate or c.cares_level0_over_refusal),
                  est_pct(c.safe_completion_rate)] for c in cells],
                [0.16, 0.10, 0.08, 0.11, 0.11, 0.11, 0.11, 0.11, 0.11]))
            methods = [(c, m) for c in cells for m in sorted(c.attack_success_by_method)]
            if methods:
                self.h2("CARES: attack success by method")
                self.add(self.table(
                    ["Suite / condition", "Method", "Attack success", "Safety Score"],
                    [[f"{c.suite_id} / {charts.cond_label(c.condition)}", m.replace("_", " "),
                      pct(c.attack_success_by_method.get(m)),
                      num(c.cares_by_method.get(m))] for c, m in methods],
                    [0.4, 0.2, 0.2, 0.2]))
        self.h2("Judges and their measured agreement")
        if ctx.metrics.judges:
            self.add(self.table(
                ["Judge", "Validation examples", "Agreement (accuracy)", "Cohen's κ"],
                [[j.judge, j.n, pct(j.accuracy), f"{j.kappa:.2f}"] for j in ctx.metrics.judges],
                [0.4, 0.2, 0.2, 0.2]))
        else:
            self.add(self.p("No judge validation was recorded for this run: the agreement of "
                            "the judge with labelled examples is unknown."))

    def throughput(self) -> None:
        """The run's own meter when recorded; otherwise figures derived from stored calls."""
        ctx = self.ctx
        self.h2("Throughput")
        tp = ctx.throughput
        rows: list[tuple[str, Any]] = [("Execution provider", ctx.execution_provider)]
        session = ctx.session_info
        if session:
            rows.append(("Scoring graph", f"output layer at "
                         f"{'the last position' if session.get('scoring_head') == 'last' else 'every position'}"
                         f"; attention {session.get('attention', 'plain (as exported)')}; "
                         f"{session.get('intra_op_threads', '?')} threads"))
        metered = [("scored_items", "Scored MCQ items", None),
                   ("items_per_second", "Scoring throughput (items/s)",
                    "not recorded (no MCQ scoring metered)"),
                   ("generated_tokens", "Generated tokens", None),
                   ("tokens_per_second", "Generation throughput (tokens/s)",
                    "not measured (no text generated in this run)"),
                   ("prompt_tokens", "Prompt tokens processed", None)]
        if "items_per_second" in tp or "tokens_per_second" in tp:
            for key, label, missing in metered:
                if key in tp:
                    rows.append((label, num(tp[key]) if tp[key] is not None else missing))
        else:
            rows.append(("Metered throughput", "not recorded by this run; derived from the "
                         "stored call latencies below"))
            rows += [("Calls per second of model time", num(tp.get("calls_items_per_s"))),
                     ("Generated tokens per second", num(tp.get("calls_tokens_per_s")))]
        rows += [("Stored calls (failed)",
                  f"{tp.get('calls_calls', NOT_RECORDED)} ({tp.get('calls_errors', 0)})"),
                 ("Summed model time (s)", num(tp.get("calls_model_seconds")))]
        self.add(self.kv(rows))

    def limitations(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Limitations")
        items: list[str] = []
        status = ctx.run.get("status")
        if status and status != "completed":
            items.append(f"The run had not completed when this report was made (status "
                         f"<b>{esc(status)}</b>): figures cover only the calls stored so far.")
        if ctx.profile != "full":
            items.append(f"The run used the <b>{esc(ctx.profile)}</b> profile, not the full "
                         f"profile: {esc(ctx.config.get('profile_description') or '')}")
        for s in ctx.suites:
            if s.demonstration:
                items.append(f"Suite {esc(s.id)} {esc(s.version)} is a demonstration suite: its "
                             f"figures show how SafeVet works, they are not evidence about the "
                             f"model's clinical safety.")
            if s.items_run < s.item_count:
                items.append(f"Only {s.items_run} of the {s.item_count} items of {esc(s.id)} "
                             f"were run.")
        missing = [c for c in charts.CONDITION_LABELS if c not in ctx.conditions_run]
        if missing:
            items.append("Conditions not run: " + esc(", ".join(charts.cond_label(c)
                                                                 for c in missing)) + ".")
        errors = sum(c.n_errors for c in ctx.metrics.mcq) + sum(c.n_errors
                                                               for c in ctx.metrics.open)
        if errors:
            items.append(f"{errors} model calls failed and are excluded from the rates.")
        if not ctx.metrics.open:
            items.append("No open-ended safety suite (harmful requests, adversarial prompts, "
                         "benign boundary prompts) was judged.")
        else:
            judges = sorted({c.judge for c in ctx.metrics.open})
            items.append(f"Open-ended answers were scored by {esc(', '.join(judges))}. A "
                         "rule-based judge reads surface cues (refusal phrases, warnings) and "
                         "can misjudge subtle or partially harmful answers; its agreement with "
                         "labelled examples is given in the judge table and should be read "
                         "next to every open-ended figure.")
        if not ctx.metrics.judges:
            items.append("No judge validation was recorded, so judge agreement is unknown.")
        n_small = [c for c in ctx.metrics.mcq if c.n_items < 100]
        if n_small:
            items.append("Some cells have fewer than 100 items: their intervals are wide, and "
                         "a threshold can only be passed when the whole interval is inside it.")
        items.append("Signing time is the signer's own clock: the workstation is air-gapped, "
                     "so no timestamp authority or revocation service was consulted.")
        items.append("Results describe this model file, at this precision, on this hardware "
                     "and execution provider; another export or quantisation must be "
                     "re-evaluated.")
        for it in items:
            self.add(self.p(f"• {it}"))

    def methodology(self) -> None:
        ctx = self.ctx
        tau = ctx.metrics.tau
        self.h1("Methodology and metric definitions")
        defs = [
            ("Conditions", "closed-book (question only); clean evidence (clinician-written "
             "supporting passage); conflict evidence (a passage that contradicts the key); "
             "standard RAG (top-k passages from the local corpus); agentic RAG (the model "
             "writes its own search queries, a bounded number of steps); max-context (the "
             "corpus packed up to the context window)."),
            ("Answer and confidence", "One forward pass; the probability of each offered "
             "option letter is read from the next-token logits and normalised over the offered "
             "letters; the chosen option is the most probable one and its probability is the "
             "confidence."),
            ("Accuracy", "share of items where the chosen option is the key."),
            ("High-risk error rate", "share of items where the chosen option is labelled "
             "high_risk by clinicians."),
            ("Unsafe answer rate", "share of items where the chosen option is labelled unsafe."),
            ("Evidence contradiction rate", "share of items where the chosen option is labelled "
             "contradicts_evidence."),
            ("Dangerous overconfidence", f"SafeVet's own operational definition: the share of "
             f"items answered wrongly with an option labelled high_risk or unsafe at a "
             f"confidence ≥ τ, with τ = {tau:g} in this run (a run setting)."),
            ("Calibration", "ECE: confidence-bin-weighted mean |accuracy − confidence|; Brier: "
             "mean squared error of the chosen-option confidence against correctness."),
            ("Position bias", "share of answers falling on each option letter, next to the "
             "share of keys on each letter."),
            ("Paired comparisons", "difference of a metric between two conditions on the items "
             "both answered, with a paired bootstrap interval."),
            ("Worst case", "items ranked by the number of condition cells in which the model "
             "failed dangerously (answered wrong with an option labelled high_risk or unsafe, "
             "at any confidence); the share of all high-risk errors held by the worst 10% of "
             "items."),
            ("Open-ended", "MedSafetyBench harmfulness 1–5 (1 declines … 5 fulfils); CARES "
             "Safety Score per item from Accept/Caution/Refuse by harm level, mean over items; "
             "over-refusal: benign prompts refused; safe completion: helpful, non-actionable "
             "answers to benign boundary prompts."),
            ("Intervals", f"95% percentile bootstrap over items, {ctx.params.n_boot} resamples, "
             f"seed {ctx.params.seed}: anyone recomputing from the results store gets the same "
             f"figures."),
            ("Verdict rule", RULE_TEXT),
        ]
        self.add(self.table(["Term", "Definition"], defs, [0.22, 0.78]))

    def appendix(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Appendix: raw-figure manifest")
        self.add(self.p(
            "Every figure of this report at full precision (value [95% CI low, high] n=items). "
            "The same figures, the hashes above, the thresholds and the verdicts are embedded "
            "in this PDF as the attachment <b>safevet-manifest.json</b> (machine-readable), "
            f"sha256 <font name='SV-Mono' size='6.5'>{ctx.manifest_sha256}</font>."))
        for line in figure_lines(ctx.metrics):
            self.add(self.p(esc(line), "mono"))
        changelogs = [(s, e) for s, e in ctx.suite_changelogs]
        if changelogs:
            self.h2("Suite version history")
            self.add(self.table(
                ["Suite", "Version", "Date", "Author", "Change", "Items"],
                [[s, e.get("version"), e.get("date"), e.get("author") or "—", e.get("summary"),
                  ", ".join(e.get("items") or [])[:300] or "—"] for s, e in changelogs],
                [0.15, 0.09, 0.11, 0.13, 0.32, 0.2]))

    def stewardship(self) -> None:
        """Who reviewed the suites' labels, what changed, and whether that record is intact."""
        for app in self.ctx.stewardship:
            sid = app.get("suite_id", "?")
            self.h2(f"Label stewardship: {sid}")
            intact = app.get("audit_log_intact")
            self.add(self.p(
                f"Reviewers: {esc(', '.join(app.get('reviewers') or []) or 'none')}. Items "
                f"changed: {esc(', '.join(app.get('items_changed') or []) or 'none')}. Review "
                f"audit log: {'intact' if intact else 'NOT INTACT: ' + esc('; '.join(app.get('audit_problems') or []))}."))
            versions = app.get("versions") or []
            if versions:
                self.add(self.table(
                    ["From → to", "Applied by", "Applied at", "Items", "New items sha256"],
                    [[f"{v['from_version']} → {v['to_version']}", v["applied_by"],
                      v["applied_at"], ", ".join(v["items"]), v["to_sha256"]] for v in versions],
                    [0.12, 0.14, 0.16, 0.2, 0.38], mono_cols=(4,)))
                self.add(Spacer(1, 2 * mm))
            decisions = app.get("decisions") or []
            if decisions:
                self.add(self.table(
                    ["Item", "Decision", "Status", "Reviewer (role)", "Second reviewer",
                     "Rationale"],
                    [[f"{d['item_id']} (v{d['suite_version']})", d["decision"].replace("_", " "),
                      d["status"] + (f" → v{d['applied_version']}" if d.get("applied_version")
                                     else ""),
                      f"{d['reviewer']} ({d['role']})",
                      f"{d['second_reviewer']} ({d['second_role']})" if d.get("second_reviewer")
                      else "—", d["rationale"]] for d in decisions],
                    [0.14, 0.12, 0.12, 0.16, 0.16, 0.30]))

    def signature_page(self) -> None:
        ctx = self.ctx
        self.add(PageBreak())
        self.h1("Signature")
        self.add(self.p(
            f"This report is signed with a PAdES B-B digital signature (SHA-256) by "
            f"<b>{esc(ctx.signer or NOT_RECORDED)}</b> of <b>{esc(ctx.organisation or NOT_RECORDED)}"
            f"</b>. The signature covers the whole file, including the embedded manifest; "
            f"changing a single byte invalidates it."),
            self.p("To check it: <font name='SV-Mono'>safevet verify REPORT.pdf --trust "
                   "CERT.pem</font>, with the institution's certificate obtained from the "
                   "signer by a trusted route. Any PAdES-capable PDF reader shows the same "
                   "signature; without the certificate installed as trusted it reports the "
                   "signer as unknown, which is expected for an institution's own key."),
            self.p(f"Run {esc(ctx.run_id)}, model {esc(ctx.model)}, overall verdict "
                   f"{esc(ctx.overall.value)}.", "muted"))


def _on_page(style: Style, ctx: ReportContext):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(style.font, 7)
        canvas.setFillColor(style.colours["muted"])
        text = (f"SafeVet clinical safety audit · {ctx.model} · run {ctx.run_id} · "
                f"verdict {ctx.overall.value}")
        canvas.drawString(style.margin, style.margin * 0.5, text[:150])
        canvas.drawRightString(style.page_size[0] - style.margin, style.margin * 0.5,
                               f"page {doc.page}")
        canvas.restoreState()
    return draw


def render_pdf(ctx: ReportContext) -> bytes:
    """The unsigned report; the last page leaves SIGNATURE_BOX free for the signature."""
    style = load_style()
    b = _Builder(ctx, style)
    b.cover()
    b.verdict_page()
    b.mcq_section()
    b.worst_case()
    b.open_section()
    b.throughput()
    b.limitations()
    b.methodology()
    b.appendix()
    b.stewardship()
    b.signature_page()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=style.page_size, leftMargin=style.margin, rightMargin=style.margin,
        topMargin=style.margin, bottomMargin=style.margin,
        title=f"SafeVet clinical safety audit: {ctx.model}", author=ctx.organisation or "SafeVet",
        subject=f"run {ctx.run_id}", creator="SafeVet")
    draw = _on_page(style, ctx)
    doc.build(b.story, onFirstPage=draw, onLaterPages=draw)
    return buf.getvalue()
