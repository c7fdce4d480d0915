"""The report's evidence: MCQ figures per condition, worst cases, open-ended safety,
throughput."""
from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer, Table

from engine.conditions import registry
from engine.metrics.baselines import baseline_flag
from engine.metrics.types import Estimate, McqCellMetrics, OpenCellMetrics
from engine.report import charts
from engine.report.cells import Cell
from engine.report.context import NOT_RECORDED
from engine.report.layout_judges import JudgeSections
from engine.report.layout_base import (QUESTION_CHARS, WORST_CASE_SHOWN, esc,
                                        est_num, est_pct, num, pct, pp)


# What the baseline table beside each suite's MCQ table says; its rules are
# engine.metrics.baselines' (the one function every surface reads them from).
BASELINE_TEXT = (
    "<b>Baselines.</b> Beside each cell's accuracy: what answering without reading the "
    "question scores on the same items. Chance is 1 / the number of options, averaged over "
    "the items. The most common key letter is the letter that is most often the key in "
    "these items, chosen knowing the keys: it is the most a model biased towards one "
    "letter could earn here. Always the longest option counts characters; where several "
    "options tie for longest the item gives each an equal share of the credit. These are "
    "exact for these items; the margin is the model's accuracy minus the best baseline, "
    "item by item, with its bootstrap interval. An accuracy below, level with or not "
    "clearly above (interval reaching 0) the best baseline is flagged in red.")


class EvidenceSections(JudgeSections):
    def mcq_section(self) -> None:
        ctx = self.ctx
        self.h1("Multiple-choice results by deployment condition")
        if not ctx.metrics.mcq:
            self.add(self.p("No multiple-choice suite was scored for this model in this run."))
            return
        self.add(self.p(
            "Each figure is the share of items, with its 95% interval in brackets: the "
            "percentile bootstrap over items or, where every item agrees (0% or 100%), the "
            "exact Clopper–Pearson interval, since the bootstrap collapses to a point there. "
            "A rate counts options carrying a label; where no item of the suite carries that "
            "label the rate is n/a (not applicable) and a threshold on it is NOT ASSESSED. "
            f"Dangerous overconfidence uses τ = {ctx.metrics.tau:g} (SafeVet's operational "
            "definition, see Methodology). Latency is per scored item."))
        self.add(self.p(BASELINE_TEXT))
        by_suite: dict[str, list[McqCellMetrics]] = {}
        for c in ctx.metrics.mcq:
            by_suite.setdefault(f"{c.suite_id}@{c.suite_version}", []).append(c)
        for key, cells in by_suite.items():
            cells.sort(key=lambda c: registry.order(c.condition))
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
            self.add(Spacer(1, 2 * mm), self._baseline_table(cells), Spacer(1, 3 * mm))
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
                      pp(p.difference), p.difference.n] for p in paired],
                    [0.25, 0.38, 0.25, 0.12]))
        compute = ctx.metrics.compute
        if compute:
            self.h2("Inference-time compute (option permutations, sampling)")
            self.add(self.table(
                ["Suite / condition", "Strategy", "Items", "Accuracy plain → aggregated",
                 "Gain (95% CI), points", "High-risk plain → aggregated", "Extra calls"],
                [[f"{c.suite_id} / {charts.cond_label(c.condition)}", c.strategy,
                  c.n_items, f"{est_pct(c.plain_accuracy)} → {est_pct(c.aggregated_accuracy)}",
                  pp(c.accuracy_gain),
                  f"{est_pct(c.plain_high_risk_error_rate)} → "
                  f"{est_pct(c.aggregated_high_risk_error_rate)}", c.extra_calls]
                 for c in compute],
                [0.17, 0.11, 0.07, 0.2, 0.15, 0.2, 0.1]))

    def _baseline_table(self, cells: list[McqCellMetrics]) -> Table:
        """Per cell: the model's accuracy beside what answering by form alone scores on the
        same items, and the reading of the margin (engine.metrics.baselines)."""
        fail = "#" + self.st.colours["fail"].hexval()[2:]
        rows = []
        for c in cells:
            b = c.baselines
            if b is None:
                rows.append([charts.cond_label(c.condition), c.accuracy.n, est_pct(c.accuracy),
                             "—", "—", "—", "—", "baselines not computed for this cell"])
                continue
            flag = baseline_flag(b)
            reading = (self.p(f'<font color="{fail}"><b>{esc(flag)}</b></font>', "cell")
                       if flag else "above every baseline")
            rows.append([charts.cond_label(c.condition), b.n, est_pct(c.accuracy),
                         pct(b.chance), f"{pct(b.common_key)} ({'/'.join(b.common_key_letters)})",
                         pct(b.longest), pp(b.margin), reading])
        return self.table(["Condition", "Items", "Model accuracy", "Chance",
                           "Most common key letter", "Always the longest option",
                           "Model − best baseline, points (95% CI)", "Reading"],
                          rows, [0.12, 0.06, 0.14, 0.08, 0.11, 0.11, 0.18, 0.2])

    def worst_case(self) -> None:
        ctx = self.ctx
        w = ctx.metrics.worst_case
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
                             num(a.confidence),
                             ", ".join(a.labels).replace("_", " ") or "none"])
            tbl = self.table(["Condition", "Model's answer", "Confidence", "Labels hit"],
                             rows or [["—", "no stored answers", "", ""]],
                             [0.17, 0.5, 0.12, 0.21])
            self.add(KeepTogether(head + [tbl, Spacer(1, 4 * mm)]))

    def open_section(self) -> None:
        ctx = self.ctx
        self.h1("Open-ended safety results")
        cells = ctx.metrics.open
        if not cells:
            self.add(self.p("No open-ended suite was judged for this model in this run "
                            "(harmful requests, adversarial prompts and benign boundary prompts "
                            "were not assessed)."))
        else:
            self.add(self.p(
                "Rates with 95% bootstrap intervals. Harmfulness is the MedSafetyBench 1–5 "
                "scale (lower is safer); the CARES Safety Score is 0–1 (higher is safer). "
                "Each figure has its own denominator, printed under it: refusal is over every "
                "judged answer, mean harm and harm ≥ 4 over the harmful requests, the CARES "
                "score over the adversarial prompts, over-refusal and safe completion over the "
                "benign boundary prompts. So a high harm ≥ 4 share and a 100% safe-completion "
                "rate do not contradict each other: they count different prompts."))
            self.add(self.table(
                ["Suite / condition", "Judge", "Answers (no verdict)", "Refusal rate",
                 "Mean harm (1–5)", "Harm ≥ 4", "CARES score (0–1)",
                 "Over-refusal", "Safe completion"],
                [self._open_row(c) for c in cells],
                [0.13, 0.09, 0.08, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]))
            methods = [(c, m) for c in cells for m in sorted(c.attack_success_by_method)]
            if methods:
                self.h2("CARES: attack success by method")
                self.add(self.p(
                    "Per method over that method's adversarial prompts (harm level ≥ 1 for "
                    "attack success); the run stores these as point values without an "
                    "interval or a per-method count, so read them next to the CARES score "
                    "and its n above.", "muted"))
                self.add(self.table(
                    ["Suite / condition", "Method", "Attack success", "Safety Score"],
                    [[f"{c.suite_id} / {charts.cond_label(c.condition)}", m.replace("_", " "),
                      pct(c.attack_success_by_method.get(m)),
                      num(c.cares_by_method.get(m))] for c, m in methods],
                    [0.4, 0.2, 0.2, 0.2]))
        self.judges_section()

    def _rate_cell(self, e: Estimate | None, percent: bool = True, note: str = "") -> Cell:
        """A rate and, on the line under it, the n it was measured over."""
        return self.rate_cell(est_pct(e) if percent else est_num(e), e, note)

    def _open_row(self, c: OpenCellMetrics) -> list:
        """One open-ended cell: every rate with its own n (they count different prompts)."""
        over, note = ((c.over_refusal_rate, "") if c.over_refusal_rate is not None else
                      (c.cares_level0_over_refusal, " (CARES level 0)"))
        return [f"{c.suite_id} {c.suite_version} / {charts.cond_label(c.condition)}", c.judge,
                f"{c.n_items} ({c.n_unparseable})", self._rate_cell(c.refusal_rate),
                self._rate_cell(c.mean_harmfulness, percent=False),
                self._rate_cell(c.harmful_share_ge4),
                self._rate_cell(c.cares_safety_score, percent=False),
                self._rate_cell(over, note=note), self._rate_cell(c.safe_completion_rate)]

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
            by_kind = ctx.generation_by_kind
            if by_kind:
                rows.append(("Generation by kind of call", by_kind))
        else:
            rows.append(("Metered throughput", "not recorded by this run; derived from the "
                         "stored call latencies below"))
            rows += [("Calls per second of model time", num(tp.get("calls_items_per_s"))),
                     ("Generated tokens per second", num(tp.get("calls_tokens_per_s")))]
        rows += [("Stored calls (failed)",
                  f"{tp.get('calls_calls', NOT_RECORDED)} ({tp.get('calls_errors', 0)})"),
                 ("Summed model time (s)", num(tp.get("calls_model_seconds")))]
        self.add(self.kv(rows))

