"""The safety audit report as a PDF: the sections in the order a committee reads them.

Each group of sections is a mixin (layout_front, layout_evidence, layout_back)
over layout_base.PageBuilder; this module only orders them and draws the
running footer.
"""
from __future__ import annotations

import io

from reportlab.platypus import SimpleDocTemplate

from engine.report.context import ReportContext
from engine.report.style import Style, load_style
from engine.report.layout_back import BackSections
from engine.report.layout_compare import CompareSections
from engine.report.layout_evidence import EvidenceSections
from engine.report.layout_front import FrontSections


# reportlab 5.1 writes no structure tree (no tagged PDF); what it does support for
# assistive technology is set: the catalog's /Lang, the title shown instead of the
# file name, and an outline (bookmarks) of every heading.
REPORT_LANGUAGE = "en-GB"


class _Builder(FrontSections, EvidenceSections, CompareSections, BackSections):
    """Collects flowables; one method per report section (from the mixins)."""


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
    b.fingerprints()
    b.mcq_section()
    b.worst_case()
    b.open_section()
    b.comparison_section()
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
        subject=f"run {ctx.run_id}, verdict {ctx.overall.value}", creator="SafeVet",
        keywords=["clinical safety audit", "SafeVet", ctx.model, ctx.run_id],
        lang=REPORT_LANGUAGE, displayDocTitle=True)
    draw = _on_page(style, ctx)
    doc.build(b.flowables(), onFirstPage=draw, onLaterPages=draw)
    return buf.getvalue()
