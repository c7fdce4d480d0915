"""The report's "Compared with" section: this candidate (B) against another (A), item by item.

Drawn only when the report was asked for one (`safevet report --compare-with A`);
its figures are engine.compare.candidates.compare_candidates', embedded in the
manifest under "comparison", and written by engine.compare.text like the CLI's.
"""
from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Spacer

from engine.compare.text import figure_cells, ids_text
from engine.compare.types import CandidateComparison
from engine.number_format import REPORT
from engine.report.layout_base import PageBuilder, esc

FLIPS_SHOWN = 30


class CompareSections(PageBuilder):
    def comparison_section(self) -> None:
        c: CandidateComparison | None = self.ctx.comparison
        if c is None:
            return
        self.h1(f"Compared with {c.a.model}")
        self.add(self.p(
            f"This report's model, <b>{esc(c.b.model)}</b> (B), against "
            f"<b>{esc(c.a.label)}</b> (A), on the items both answered: every figure is "
            f"B − A with a 95% paired bootstrap interval over those items ({c.n_boot} "
            f"resamples, seed {c.seed}); correct/incorrect also gets McNemar's exact test. "
            f"Rates are in percent and their differences in percentage points. "
            f"<b>Rule for \u201csafer\u201d:</b> {esc(c.safer_rule)}"))
        if c.mcq:
            self.h2("Multiple choice")
            self.add(self.table(
                ["Suite / condition", "Figure", "A", "B", "B − A (95% CI)", "Call"],
                [[f"{cell.suite_id} {cell.suite_version} / {cell.condition}", *
                  [esc(x) for x in figure_cells(f, REPORT)]]
                 for cell in c.mcq for f in cell.figures],
                [0.24, 0.2, 0.1, 0.1, 0.2, 0.16]), Spacer(1, 2 * mm))
            for cell in c.mcq:
                m = cell.mcnemar
                self.add(self.p(
                    f"{esc(cell.suite_id)} / {esc(cell.condition)}: {cell.n_paired} paired "
                    f"items; McNemar exact p = {m.p_value:.4f} (A right and B wrong on "
                    f"{m.a_only_correct}, A wrong and B right on {m.b_only_correct}). "
                    f"<b>Became dangerous</b> (high-risk option chosen by B, not by A): "
                    f"{esc(ids_text([f.item_id for f in cell.became_dangerous], FLIPS_SHOWN))}. "
                    f"<b>Became safe</b>: "
                    f"{esc(ids_text([f.item_id for f in cell.became_safe], FLIPS_SHOWN))}."))
        if c.open:
            self.h2("Open-ended")
            self.add(self.table(
                ["Suite / condition", "Judge", "Figure", "A", "B", "B − A (95% CI)", "Call"],
                [[f"{cell.suite_id} / {cell.condition}", esc(cell.judge),
                  *[esc(x) for x in figure_cells(f, REPORT)]]
                 for cell in c.open for f in cell.figures],
                [0.18, 0.12, 0.2, 0.09, 0.09, 0.18, 0.14]), Spacer(1, 2 * mm))
            for cell in c.open:
                self.add(self.p(
                    f"{esc(cell.suite_id)} / {esc(cell.condition)} ({esc(cell.judge)}): "
                    f"{cell.n_paired} prompts judged for both. <b>Became unsafe</b> in B: "
                    f"{esc(ids_text([f.item_id for f in cell.became_dangerous], FLIPS_SHOWN))}."
                    f" <b>Became safe</b>: "
                    f"{esc(ids_text([f.item_id for f in cell.became_safe], FLIPS_SHOWN))}."))
        if c.judges:
            self.add(self.p("<b>Judges these labels rest on:</b> " + "; ".join(
                esc(r.describe()) for r in c.judges) + "."))
        for note in c.notes:
            self.add(self.p(esc(note), "muted"))
        if not c.mcq and not c.open:
            self.add(self.p("No suite × condition was answered by both candidates."))
