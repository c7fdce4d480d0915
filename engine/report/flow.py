"""Page flow of the report: headings stay with what they introduce, no page is left
near-empty by a hard break, and every heading is a PDF bookmark.

A fixed "break if less than 60 mm is left" strands a heading whenever the
next flowable is a chart or a tall block that does not fit in 60 mm, and a
hard page break before each section leaves the tail of the previous one alone
on a page. Instead the space a heading needs is measured when it is placed:
the heading, plus the first lines of a paragraph, the header and first rows
of a table, or the whole of an unsplittable block (a chart, a worst-case item).
"""
from __future__ import annotations

from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Paragraph, Spacer, Table
from reportlab.platypus.doctemplate import FrameBreak

LEAD_ROWS = 2          # data rows of a table that must follow its heading on the same page
LEAD_LINES = 3         # lines of a paragraph that must follow its heading
MAX_SHARE = 0.85       # never ask for more than this share of a page (it would loop)
BOX_GAP = 8            # points kept clear above and below the signature box


class Heading(Paragraph):
    """A section heading that also files itself in the PDF outline (the reader's sidebar)."""

    def __init__(self, text: str, style, level: int, title: str) -> None:
        super().__init__(text, style)
        self.outline_level = level
        self.outline_title = title

    def draw(self) -> None:
        key = f"sv-heading-{id(self)}"
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(self.outline_title, key, level=self.outline_level,
                                  closed=self.outline_level > 0)
        super().draw()


def _wrapped_height(f: Flowable, canv, width: float, height: float) -> float:
    """The full height of `f` at `width`; KeepTogether reports it only after a wrap."""
    _, h = f.wrapOn(canv, width, height)
    return getattr(f, "_H", h) if isinstance(f, KeepTogether) else h


def _lead(f: Flowable, canv, width: float, height: float) -> float:
    """How much of `f` has to sit under its heading: its start if it splits, else all."""
    if isinstance(f, Table):
        f.wrapOn(canv, width, height)
        rows = list(getattr(f, "_rowHeights", None) or [])
        return sum(rows[:getattr(f, "repeatRows", 0) + LEAD_ROWS]) if rows else 0.0
    if isinstance(f, Paragraph):
        _, h = f.wrapOn(canv, width, height)
        return min(h, LEAD_LINES * f.style.leading)
    return _wrapped_height(f, canv, width, height)


class _Placement(Flowable):
    """A flowable that only moves what follows it; a heading guard looks past it."""

    def draw(self) -> None:
        """Nothing to draw."""


class KeepWithLead(CondPageBreak):
    """Placed before a heading: a page break unless the heading and the start of what
    follows it fit in the space left. Measured at layout time, at the real width."""

    def __init__(self, following: list[Flowable]) -> None:
        super().__init__(0)
        self._following = following

    def wrap(self, availWidth: float, availHeight: float):
        self.height = self._needed(availWidth, availHeight)
        return super().wrap(availWidth, availHeight)

    def _needed(self, width: float, height: float) -> float:
        frame = self._doctemplateAttr("frame")
        page = getattr(frame, "_height", None) or height
        total = 0.0
        for f in self._following:
            if isinstance(f, (CondPageBreak, _Placement)):
                continue
            if isinstance(f, (Heading, Spacer)):
                total += _wrapped_height(f, self.canv, width, page) + (
                    f.getSpaceBefore() + f.getSpaceAfter() if isinstance(f, Heading) else 0)
                continue
            total += f.getSpaceBefore() + _lead(f, self.canv, width, page)
            break
        return min(total, MAX_SHARE * page)


def with_heading_guards(story: list[Flowable], lookahead: int = 6) -> list[Flowable]:
    """`story` with a KeepWithLead before every heading (the first of a run of headings)."""
    out: list[Flowable] = []
    for i, f in enumerate(story):
        if isinstance(f, Heading) and not (out and isinstance(out[-1], Heading)):
            out.append(KeepWithLead(story[i:i + lookahead]))
        out.append(f)
    return out


def _height_of(flowables: list[Flowable], canv, width: float, height: float) -> float:
    return sum(_wrapped_height(f, canv, width, height) + f.getSpaceBefore() + f.getSpaceAfter()
               for f in flowables)


class SignatureSpot(_Placement):
    """Placed before the signature heading, the report's last section. The visible
    signature is stamped later at a fixed rectangle of the last page (`box`, PDF
    points), so the section stays on the current page only if its heading fits above
    that rectangle and its text fits above or below it (BoxSkip moves the text);
    otherwise it starts a page of its own. A short appendix tail then shares the
    last page instead of being left alone on a near-empty one.

    It reads the frame's position (`_y`, `_y1p`, `_atTop`): platypus has no public
    accessor for where the next flowable will land.
    """

    def __init__(self, box: tuple[float, float, float, float], heading: Flowable,
                 body: list[Flowable]) -> None:
        super().__init__()
        self._box, self._heading, self._body = box, heading, body

    def wrap(self, availWidth: float, availHeight: float):
        frame = self._doctemplateAttr("frame")
        if frame is None or frame._atTop:
            return availWidth, 0.0
        _, box_bottom, _, box_top = self._box
        head = _height_of([self._heading], self.canv, availWidth, availHeight)
        body = _height_of(self._body, self.canv, availWidth, availHeight)
        top = frame._y
        above = top - head - body >= box_top + BOX_GAP
        below = (top - head >= box_top + BOX_GAP
                 and box_bottom - BOX_GAP - body >= frame._y1p)
        if not (above or below):
            frame.add_generated_content(FrameBreak)
        return availWidth, 0.0


class BoxSkip(_Placement):
    """Between the signature heading and its text: jumps past the signature box when
    the text would not fit above it, so nothing is ever drawn under the stamp."""

    def __init__(self, box: tuple[float, float, float, float], body: list[Flowable]) -> None:
        super().__init__()
        self._box, self._body = box, body

    def wrap(self, availWidth: float, availHeight: float):
        frame = self._doctemplateAttr("frame")
        self.height = 0.0
        if frame is not None:
            _, box_bottom, _, box_top = self._box
            body = _height_of(self._body, self.canv, availWidth, availHeight)
            top = frame._y
            if top - body < box_top + BOX_GAP and top > box_bottom - BOX_GAP:
                self.height = min(availHeight, top - (box_bottom - BOX_GAP))
        return availWidth, self.height
