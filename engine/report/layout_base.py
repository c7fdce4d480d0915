"""Page layout of the safety audit report: the building blocks every section uses.

Written for a clinical governance committee first and an auditor second: the
verdict and what was (and was not) tested come before the evidence, every
table cell is a wrapping Paragraph so nothing runs off the page, and every
figure printed here is also in the embedded manifest and the raw-figure
appendix. The sections themselves live in layout_front (cover, verdict),
layout_evidence (MCQ, worst cases, open-ended, throughput) and layout_back
(limitations, methods, appendix, signature); layout.render_pdf puts them in order.
"""
from __future__ import annotations

import io
from functools import partial
from typing import Any, Iterable
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (CondPageBreak, Image, KeepTogether, Paragraph, Spacer, Table, TableStyle)

from engine.number_format import REPORT, percent, points, rate, scalar, score
from engine.report.context import NOT_RECORDED, ReportContext
from engine.report.style import Style
from engine.report.thresholds import Verdict

WORST_CASE_SHOWN = 10
QUESTION_CHARS = 600


# -- small formatting helpers -------------------------------------------------------------

# -- small formatting helpers -------------------------------------------------------------

def esc(value: Any) -> str:
    """Escape for reportlab's mini-markup: questions and answers are arbitrary text."""
    return escape("" if value is None else str(value))


# The report's number style, bound once: the figures are written by engine.number_format,
# the module the CLI and the desktop use, so the three agree to the digit.
pct = partial(percent, style=REPORT)       # '12.5%', '—' when absent
est_pct = partial(rate, style=REPORT)      # '12.5% (4.0–25.0)', 'not measured'
est_num = partial(score, style=REPORT)     # '0.71 (0.65–0.77)'
num = partial(scalar, style=REPORT)        # '0.042'; counts whole
pp = partial(points, style=REPORT)         # '+4.0 (-1.5 to +9.5)', percentage points


def compact_settings(value: Any) -> str:
    """A settings dict as 'key value, key value' (lists joined), for one table cell."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {compact_settings(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(compact_settings(v) for v in value) + "]"
    return str(value)


class PageBuilder:
    """Collects flowables; the section mixins add one method per report section."""

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

