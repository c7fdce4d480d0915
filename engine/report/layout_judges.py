"""The report's judge pages: each judge's held-out agreement, what it assesses and what it
assumes, whether it passed the judge gate, and, where several judges scored the run,
their figures side by side with their agreement with each other."""
from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Spacer

from engine.judges.types import JudgeAgreement
from engine.judges.validation import INTERVAL_METHOD
from engine.judges.wording import (accuracy_text, as_estimate, harm_text, kappa_text, recall_text,
                                   scope_sentence, split_identity, split_words)
from engine.metrics.types import OpenCellMetrics
from engine.number_format import REPORT
from engine.report import charts, judge_gate
from engine.report.layout_base import PageBuilder, esc, est_num, est_pct, pct

# (figure label, OpenCellMetrics attribute, shown as a percentage)
SIDE_BY_SIDE_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("Refusal rate", "refusal_rate", True),
    ("MedSafetyBench mean harm (1–5)", "mean_harmfulness", False),
    ("Harm ≥ 4", "harmful_share_ge4", True),
    ("CARES Safety Score (0–1)", "cares_safety_score", False),
    ("Over-refusal", "over_refusal_rate", True),
    ("Safe completion", "safe_completion_rate", True),
)


class JudgeSections(PageBuilder):
    def judges_section(self) -> None:
        ctx = self.ctx
        self.h2("Judges and their measured agreement")
        judges = ctx.metrics.judges
        if not judges:
            self.add(self.p("No judge validation was recorded for this run: the agreement of "
                            "the judge with labelled examples is unknown, so no open-ended "
                            "line counts toward the verdict."))
            return
        self.add(self.p(
            "Each judge is compared with reference labels on the <b>held-out</b> part of "
            "SafeVet's judge validation set: responses no judge was tuned on (judges may be "
            "tuned on the separate development part). Recall is the share of the responses "
            f"of a class that the judge put in that class. {esc(INTERVAL_METHOD)}."))
        self.add(self.table(
            ["Judge", "Measured on", "Accuracy", "Cohen's κ", "Recall: refuse",
             "Recall: caution", "Recall: comply"],
            [self._agreement_row(a) for a in judges],
            [0.14, 0.2, 0.13, 0.12, 0.135, 0.135, 0.14]))
        self.add(Spacer(1, 2 * mm))
        for a in judges:
            self.add(self.p(self._judge_paragraph(a)), Spacer(1, 1.5 * mm))
        self._side_by_side()

    def _agreement_row(self, a: JudgeAgreement) -> list:
        recall = {r.label: recall_text(r, REPORT) for r in a.per_class}
        where = f"{split_words(a)}, n = {a.n}"
        if a.split_file:
            where += f"; {split_identity(a)}"
        return [a.judge, where, accuracy_text(a, REPORT), kappa_text(a, REPORT),
                recall.get("refuse", "—"), recall.get("caution", "—"), recall.get("comply", "—")]

    def _gate_sentence(self, a: JudgeAgreement) -> str:
        limits = self.ctx.thresholds.judge_kappa
        failing = [(f, r) for f in judge_gate.JUDGE_FAMILIES
                   if (r := judge_gate.gate_reason(a.judge, limits[f.name], [a])) is not None]
        values = {limits[f.name] for f in judge_gate.JUDGE_FAMILIES}
        shown = (f"{values.pop():.2f} for every open-ended family" if len(values) == 1 else
                 ", ".join(f"{f.label} {limits[f.name]:.2f}" for f in judge_gate.JUDGE_FAMILIES))
        if not failing:
            return (f"<b>Judge gate</b> (min_judge_kappa: {esc(shown)}): passed; its "
                    f"open-ended figures count toward the verdict.")
        families = ", ".join(f.label for f, _ in failing)
        return (f"<b>Judge gate</b> (min_judge_kappa: {esc(shown)}): <b>not passed</b> for "
                f"{esc(families)} ({esc(failing[0][1])}); those lines are NOT ASSESSED.")

    def _judge_paragraph(self, a: JudgeAgreement) -> str:
        scope = scope_sentence(a)    # starts with the judge's id, set in bold here
        parts = [f"<b>{esc(a.judge)}</b>{esc(scope[len(a.judge):])}"]
        if not a.held_out:
            parts.append(f"<b>Not a held-out figure:</b> measured on the "
                         f"{esc(split_words(a))}.")
        harm = harm_text(a, REPORT)
        if harm:
            parts.append(esc(harm[0].upper() + harm[1:]) + ".")
        if a.reference is not None and a.reference.n:
            parts.append(f"Not in the figure above: {a.reference.judged_refuse} of the "
                         f"{a.reference.n} reference responses of the run's must-refuse items "
                         f"were judged refuse (kept apart: {esc(a.reference.note)}).")
        parts.append(self._gate_sentence(a))
        return " ".join(parts)

    def _side_by_side(self) -> None:
        """Each cell several judges scored: their figures in adjacent columns, then how far
        the judges agree with each other on the answers both judged."""
        ctx = self.ctx
        by_cell: dict[tuple[str, str, str], list[OpenCellMetrics]] = {}
        for c in ctx.metrics.open:
            by_cell.setdefault((c.suite_id, c.suite_version, c.condition), []).append(c)
        multi = {k: v for k, v in by_cell.items() if len({c.judge for c in v}) > 1}
        if not multi and not ctx.judge_pairs:
            return
        self.h2("Judges side by side")
        self.add(self.p(
            "Where several judges scored the same answers, each figure is shown per judge, "
            "with each judge's held-out κ and whether it passed the judge gate; only a judge "
            "that passed counts toward the verdict. Below, the judges' agreement with each "
            "other on the answers both judged; every answer they disagree on goes to the "
            "review queue for a clinician's verdict."))
        kappas = {a.judge: a for a in ctx.metrics.judges}
        for (suite_id, version, cond), cells in multi.items():
            cells = sorted(cells, key=lambda c: c.judge)
            rows = []
            for label, attr, percent in SIDE_BY_SIDE_ROWS:
                values = [getattr(c, attr) for c in cells]
                if all(v is None or v.value is None for v in values):
                    continue
                rows.append([label] + [self.rate_cell(est_pct(v) if percent else est_num(v), v)
                                       for v in values])
            rows.append(["Held-out κ"] + [
                kappa_text(kappas[c.judge], REPORT) + ("" if kappas[c.judge].held_out
                                                       else " (not held-out)")
                if c.judge in kappas else "not validated" for c in cells])
            width = 0.7 / len(cells)
            self.add(Spacer(1, 2 * mm), self.p(f"<b>{esc(suite_id)} {esc(version)} / "
                                               f"{esc(charts.cond_label(cond))}</b>", "cell"))
            self.add(self.table(["Figure"] + [c.judge for c in cells], rows,
                                [0.3] + [width] * len(cells)))
        if ctx.judge_pairs:
            self.add(Spacer(1, 2 * mm), self.p("<b>Agreement between the judges</b> (same "
                                               "answers, labels refuse / caution / comply)",
                                               "cell"))
            self.add(self.table(
                ["Judges", "Answers both judged", "Agreement", "Cohen's κ between them",
                 "Disagreements (to the review queue)"],
                [[f"{p.judge_a} vs {p.judge_b}", p.n,
                  est_pct(as_estimate(p.agreement, p.agreement_interval, p.n)),
                  est_num(as_estimate(p.kappa, p.kappa_interval, p.n)),
                  f"{len(p.disagreements)} ({pct(len(p.disagreements) / p.n) if p.n else '—'})"]
                 for p in ctx.judge_pairs],
                [0.3, 0.14, 0.18, 0.18, 0.2]))

