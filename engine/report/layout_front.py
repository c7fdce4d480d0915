"""The report's first pages: the verdict and its reasons, the identity of the
evaluation, the verdict tables, then the hashes that pin down what was evaluated.

Page 1 is what a committee member reads if they read nothing else, so it opens
with the verdict and the thresholds it rests on in a sentence each (including
those NOT ASSESSED); the 64-character hashes, which only an auditor compares,
come after the verdict tables instead of pushing the reasons onto page 2.
"""
from __future__ import annotations

from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from engine.metrics.baselines import baseline_flag
from engine.number_format import REPORT, setting
from engine.report import charts
from engine.report.cells import Cell
from engine.report.context import NOT_RECORDED
from engine.report.flow import Heading
from engine.report.provenance import precision_text
from engine.report.summary import (failing_sentence, not_assessed_sentence, passed_sentence,
                                   verdict_sentence)
from engine.report.thresholds import RULE_TEXT, ThresholdResult, Verdict
from engine.report.layout_base import (PageBuilder, compact_settings, esc, est_num, est_pct, n_of,
                                       num, pct)


class FrontSections(PageBuilder):
    # -- sections -------------------------------------------------------------------------
    def cover(self) -> None:
        ctx = self.ctx
        self.add(Heading("Clinical safety audit report", self.s["title"], 0,
                         "Verdict and identity"),
                 self.p(f"Candidate model: <b>{esc(ctx.model)}</b>", "h1"))
        self._headline()
        if ctx.reduced_profile:
            runs = "; ".join(f"{s.id} {s.version}: {s.items_run} of {s.item_count} items"
                             + (" (demonstration suite)" if s.demonstration else "")
                             for s in ctx.suites)
            desc = ctx.config.profile_description
            banner = Table([[self.p(
                f"<b>Run profile: {esc(ctx.profile)}.</b> This run is smaller than a full "
                f"evaluation. {esc(desc)} Suites: {esc(runs) or 'none recorded'}. "
                f"Conditions run: {esc(', '.join(ctx.conditions_run) or 'none')}.", "cell")]],
                colWidths=[self.st.frame_width])
            banner.setStyle(TableStyle([
                ("BOX", (0, 0), (-1, -1), 1, self.st.colours["not_assessed"]),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fff6d6"))]))
            self.add(banner, Spacer(1, 3 * mm))
        self._cover_identity()
        self._cover_model()
        self._cover_suites()

    def _headline(self) -> None:
        """The verdict, then what it rests on: failures with the bound and the limit,
        then what was not assessed; one sentence each, before any table."""
        results = self.ctx.results
        colour = "#" + self.verdict_colour(self.ctx.overall).hexval()[2:]
        self.add(self.p(f'<font color="{colour}">{esc(verdict_sentence(self.ctx.overall))}'
                        f"</font>", "verdict"),
                 self._lead_bold(failing_sentence(results)))
        missing = not_assessed_sentence(results)
        if missing:
            self.add(self._lead_bold(missing))
        artifacts = self._baseline_sentence()
        if artifacts:
            self.add(self._lead_bold(artifacts))
        passed = passed_sentence(results)
        if passed and any(r.verdict != Verdict.PASS for r in results):
            self.add(self.p(esc(passed) + " The verdict tables follow the identity of the "
                            "evaluation; the rule is stated with them."))
        self.add(Spacer(1, 2 * mm))

    def _baseline_sentence(self) -> str:
        """'Accuracy does not clearly beat answering by form alone in 2 of 6 cells: …', naming
        each cell, its accuracy and the baseline it fails to beat; '' when it beats them all."""
        cells = [c for c in self.ctx.metrics.mcq if c.baselines is not None]
        weak = [c for c in cells if baseline_flag(c.baselines)]
        if not weak:
            return ""
        def cond(name: str) -> str:
            label = charts.cond_label(name)
            return label[:1].lower() + label[1:]

        parts = [f"on {c.suite_id} under {cond(c.condition)}, {pct(c.accuracy.value)} is "
                 f"{baseline_flag(c.baselines)} ({pct(c.baselines.best_value)})"
                 for c in weak if c.baselines is not None]
        return (f"Accuracy does not clearly beat an answer strategy that ignores the question "
                f"in {len(weak)} of {len(cells)} multiple-choice cells: {'; '.join(parts)}.")

    def _lead_bold(self, sentence: str) -> Paragraph:
        """'It fails 3 of 18 thresholds:' in bold, the list after it in plain text."""
        head, sep, rest = sentence.partition(": ")
        return self.p(f"<b>{esc(head)}{esc(sep)}</b>{esc(rest)}")

    def _cover_identity(self) -> None:
        ctx = self.ctx
        run = ctx.run
        host = ctx.environment.host
        hardware = ", ".join(x for x in [
            str(host.get("processor") or ""),
            (f"{host['physical_cpus']} physical / " if host.get("physical_cpus") else "")
            + f"{host['logical_cpus']} logical CPUs" if host.get("logical_cpus") else "",
            f"{host['memory_gib']} GiB RAM" if host.get("memory_gib") else "",
            str(host.get("platform") or "")] if x) or NOT_RECORDED
        self.h2("Identity of this evaluation")
        self.add(self.kv([
            ("Run id / profile", f"{ctx.run_id} / {ctx.profile}"),
            ("Operator", run.operator),
            ("Run started / finished (UTC)",
             f"{run.created_at or NOT_RECORDED} / {run.finished_at or NOT_RECORDED}"
             f" (status {run.status or NOT_RECORDED})"),
            ("Report generated (UTC)", ctx.generated_at),
            ("Signed by", f"{ctx.signer} ({ctx.organisation})" if ctx.signer else NOT_RECORDED),
            ("Execution provider", ctx.execution_provider),
            ("Hardware", hardware),
        ]))

    def _cover_model(self) -> None:
        ctx = self.ctx
        mm_ = ctx.model_manifest or {}
        params = mm_.get("parameter_count")
        self.h2("Candidate model")
        if ctx.model_manifest is None:
            self.add(self.p(f"<i>Model manifest not available: {esc(ctx.model_manifest_note)}</i>",
                            "muted"))
        else:
            settings = compact_settings(mm_["quantization"]) if mm_.get("quantization") else ""
            self.add(self.kv([
                ("Source", f"{mm_.get('source')} ({mm_.get('source_kind', NOT_RECORDED)}"
                 + (f", derived from {mm_['derived_from']}" if mm_.get("derived_from") else "")
                 + ")"),
                ("Precision", precision_text(mm_, settings)),
                ("Architecture", f"{mm_.get('architecture')} ({mm_.get('model_type', '')}), "
                 + (f"{params:,} parameters" if isinstance(params, int) else
                    f"parameters {params or NOT_RECORDED}")
                 + f", context {mm_.get('context_length') or NOT_RECORDED} tokens"),
                ("Export tools", ", ".join(f"{k} {v}" for k, v in
                                           (mm_.get("export_tool_versions") or {}).items())),
                ("Imported", mm_.get("created_at")),
            ]))

    def _cover_suites(self) -> None:
        ctx = self.ctx
        self.h2("Suites, corpus and software")
        self.add(self.table(
            ["Suite", "Name", "Version", "Items run / in suite"],
            [[s.id, s.name + (" (demonstration)" if s.demonstration else ""),
              s.version, f"{s.items_run} / {s.item_count}"]
             for s in ctx.suites] or [["none recorded", "", "", ""]],
            [0.3, 0.44, 0.1, 0.16]))
        self.add(Spacer(1, 2 * mm))
        corpus = ctx.corpus
        if corpus:
            emb = corpus.get("embedder") or {}
            self.add(self.kv([
                ("Retrieval corpus", f"{corpus.get('name')}: {len(corpus.get('documents') or [])}"
                 f" documents, {corpus.get('chunk_count')} chunks, store "
                 f"{corpus.get('store', 'chromadb')}, updated {corpus.get('updated_at')}"),
                ("Embedder", f"{emb.get('name', NOT_RECORDED)}"
                 + (f", {emb['dimensions']} dimensions" if emb.get("dimensions") else "")),
            ]))
        else:
            self.add(self.kv([("Retrieval corpus", ctx.corpus_note or "none used by this run")]))
        self.add(Spacer(1, 2 * mm))
        run_sw = ctx.environment.software
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
        self.h1("Verdict summary")
        counts = {v: sum(1 for r in ctx.results if r.verdict == v) for v in
                  (Verdict.PASS, Verdict.FAIL, Verdict.NOT_ASSESSED)}
        self.add(self.p(f"Overall: {self.verdict_par(ctx.overall, 'cellb').text}. "
                        f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, "
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
                             self._limit(r), self._measured(r), self._bound(r),
                             self.verdict_par(r.verdict)])
            self.add(self.table(["Requirement", "Suite / condition", "Limit",
                                 "Measured (95% CI)", "Bound used", "Verdict"],
                                rows, [0.2, 0.2, 0.08, 0.19, 0.19, 0.14]))

    def fingerprints(self) -> None:
        """Every hash that pins down what was evaluated, in one place for the auditor."""
        ctx = self.ctx
        mm_ = ctx.model_manifest or {}
        self.h2("Fingerprints of what was evaluated (sha256)")
        rows: list[list[Any]] = []
        if mm_:
            rows.append([f"model source {mm_.get('source')}", mm_.get("source_sha256")
                         or NOT_RECORDED])
            rows += [[f"model file {name}", digest]
                     for name, digest in sorted((mm_.get("files") or {}).items())]
        rows += [[f"suite {s.id} {s.version} items", s.items_sha256] for s in ctx.suites]
        emb = (ctx.corpus or {}).get("embedder") or {}
        if emb.get("model_sha256"):
            rows.append([f"embedder {emb.get('name', '')}", emb["model_sha256"]])
        rows.append([f"thresholds file {ctx.thresholds.path}", ctx.thresholds.sha256])
        self.add(self.table(["What", "sha256"], rows, [0.45, 0.55], mono_cols=(1,)))

    def _measured(self, r: ThresholdResult) -> Cell:
        """The figure the verdict judged, with the count it was measured over."""
        return self.rate_cell(est_pct(r.estimate) if r.percent else est_num(r.estimate),
                              r.estimate)

    @staticmethod
    def _limit(r: ThresholdResult) -> str:
        return (f"{'≤' if r.kind == 'max' else '≥'} "
                + (pct(r.limit) if r.percent else setting(r.limit)))

    @staticmethod
    def _bound(r: ThresholdResult) -> str:
        if r.bound is None:
            return f"{REPORT.missing} ({r.reason})"
        b = pct(r.bound) if r.percent else num(r.bound)
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
            n = next((n_of(r.estimate) for r in by_key.values() if n_of(r.estimate)), "")
            row: list[Any] = [self.p(f"<b>{esc(charts.cond_label(cond))}</b><br/>{esc(suite_id)}"
                                     + (f"<br/>{esc(n)} items" if n else ""), "cell")]
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

