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
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (CondPageBreak, Flowable, Image, KeepTogether, Paragraph, Spacer,
                                Table, TableStyle)

from engine.number_format import REPORT, count, percent, points, rate, scalar, score
from engine.report.cells import CELL_PADDING, Cell, column_widths
from engine.report.context import NOT_RECORDED, ReportContext
from engine.report.flow import Heading, with_heading_guards
from engine.report.style import Style
from engine.report.thresholds import Verdict

WORST_CASE_SHOWN = 10
QUESTION_CHARS = 600
SECTION_MIN_SHARE = 0.28   # a major section starting with less of the page left starts a new one
SMALLER_FONT = 0.88        # a table too wide for the page at the cell size is set this much smaller


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


def n_of(e: Any) -> str:
    """'n = 36' under a rate: each figure's own denominator, which differs per column."""
    n = getattr(e, "n", None)
    if not n or getattr(e, "value", None) is None:
        return ""
    return f"n\u00a0=\u00a0{count(n, style=REPORT)}"   # no-break spaces: never "n =" / "36"


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

    def flowables(self) -> list[Flowable]:
        """The story as laid out: every heading guarded so it never ends a page alone."""
        return with_heading_guards(self.story)

    def _heading(self, text: str, style: str, level: int) -> Heading:
        return Heading(esc(text), self.s[style], level, text)

    def h1(self, text: str) -> None:
        """A major section: it flows on after the previous one unless too little of the
        page is left (a hard break there left pages near-empty)."""
        self.add(CondPageBreak(SECTION_MIN_SHARE * self.frame_height),
                 self._heading(text, "h1", 0))

    def h2(self, text: str) -> None:
        self.add(self._heading(text, "h2", 1))

    @property
    def frame_height(self) -> float:
        return self.st.page_size[1] - 2 * self.st.margin

    def _cell(self, value: Any, style: ParagraphStyle) -> Cell | Paragraph:
        return value if isinstance(value, (Paragraph, Cell)) else Cell(str(value), style)

    def _grid(self, cells: list[list[Cell | Paragraph]], given: list[float]
              ) -> tuple[list[list[Paragraph]], list[float]]:
        """Cells as Paragraphs at column widths where no word breaks. A table that cannot
        fit at the cell size is set smaller before any id is broken after a separator;
        figures and hashes are never broken."""
        smaller = [[self._smaller(c) for c in row] for row in cells]
        widths: list[float] | None = None
        for attempt, split_ids in ((cells, False), (smaller, False), (cells, True),
                                   (smaller, True)):
            widths = column_widths(attempt, given, self.st.frame_width, split_ids)
            if widths is not None:
                cells = attempt
                break
        widths = widths or given
        return [[c.paragraph(w) if isinstance(c, Cell) else c for c, w in zip(row, widths)]
                for row in cells], widths

    @staticmethod
    def _smaller(c: Cell | Paragraph) -> Cell | Paragraph:
        if not isinstance(c, Cell):
            return c
        st = c.style
        return Cell(c.text, ParagraphStyle(f"{st.name}-small", parent=st,
                                           fontSize=st.fontSize * SMALLER_FONT,
                                           leading=st.leading * SMALLER_FONT),
                    c.note, c.note_colour)

    def rate_cell(self, shown: str, e: Any, note: str = "") -> Cell:
        """A figure and, on a muted line under it, the n it was measured over."""
        n = n_of(e)
        return Cell(shown, self.s["cell"], f"{n}{note}" if n else "",
                    "#" + self.st.colours["muted"].hexval()[2:])

    def _cell_style(self, extra: list | None = None) -> list:
        return [("GRID", (0, 0), (-1, -1), 0.4, self.st.colours["table_grid"]),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)
                ] + (extra or [])

    def table(self, header: list[str], rows: Iterable[list[Any]], widths: list[float],
              mono_cols: Iterable[int] = (), extra: list | None = None) -> Table:
        """A table whose every cell wraps between words; widths are fractions of the frame
        width, adjusted so the widest id, interval or hash of each column fits whole."""
        total = self.st.frame_width
        mono = set(mono_cols)
        cells = [[self._cell(h, self.s["cellb"]) for h in header]]
        for row in rows:
            cells.append([self._cell(c, self.s["mono" if i in mono else "cell"])
                          for i, c in enumerate(row)])
        data, col_widths = self._grid(cells, [w * total for w in widths])
        t = Table(data, colWidths=col_widths, repeatRows=1, hAlign="LEFT")
        t.setStyle(TableStyle(self._cell_style(
            [("BACKGROUND", (0, 0), (-1, 0), self.st.colours["table_header"])] + (extra or []))))
        return t

    def kv(self, rows: list[tuple[str, Any]], widths=(0.28, 0.72), mono_keys=()) -> Table:
        """Label / value rows (the cover's identity tables), sized like `table`."""
        total = self.st.frame_width
        cells = [[self._cell(k, self.s["cellb"]),
                  self._cell(v if v not in (None, "") else NOT_RECORDED,
                             self.s["mono" if k in mono_keys else "cell"])] for k, v in rows]
        data, col_widths = self._grid(cells, [w * total for w in widths])
        t = Table(data, colWidths=col_widths, hAlign="LEFT")
        t.setStyle(TableStyle(self._cell_style(
            [("BACKGROUND", (0, 0), (0, -1), self.st.colours["table_header"])])))
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

