"""Table cells that wrap between words and never inside one.

reportlab breaks a word that is wider than its cell at whatever letter the
edge falls on, which printed "demo-radiology-mc q" and "100 .0–100.0" in the
demo report. So a table is sized before it is drawn: every column gets at
least the width of its widest word (an id, a suite name, an interval), taken
from columns that have room to spare; only a word that cannot fit any
sensible column (a file path, a hash in a narrow table) is broken, and then
after a '/', '-', '_' or '.' (with an explicit line break, since reportlab
has no zero-width break opportunity), never inside a number or an interval.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph

CELL_PADDING = 3.0            # left and right padding of every report table cell, points
BREAKABLE_CAP = 0.45          # a word that may break claims at most this share of the frame
SEPARATORS = "/-_.@:"         # a long word may break after one of these
# Numbers, intervals, percentages, ratios, versions: they are read as one figure.
_FIGURE = re.compile(r"^[\[(]?[-+−]?[\d.,]+%?(?:[–/:-][-+−]?[\d.,]+%?)*[\])]?[,;.]?$")
_HASH = re.compile(r"^[0-9a-f]{16,}$")


def is_figure(word: str) -> bool:
    """True for '100.0%', '(80.6–100.0)', '16/16', '1.2.0': never to be broken."""
    return bool(_FIGURE.match(word))


def must_stay_whole(word: str) -> bool:
    """A figure or a hash: a reader compares it character by character, so it stays whole."""
    return is_figure(word) or bool(_HASH.match(word))


def has_separator(word: str) -> bool:
    return any(c in word for c in SEPARATORS)


def _width(word: str, style: ParagraphStyle) -> float:
    return stringWidth(word, style.fontName, style.fontSize)


def _break_points(word: str) -> list[int]:
    """Indices after which `word` may break: after a separator, not between digits."""
    out = []
    for i in range(1, len(word)):
        prev, nxt = word[i - 1], word[i]
        if prev in SEPARATORS and not (nxt.isdigit() and word[i - 2:i - 1].isdigit()):
            out.append(i)
    return out


def _segments(word: str) -> list[str]:
    """The stretches between break points: the least a broken word still needs per line."""
    cuts = [0] + _break_points(word) + [len(word)]
    return [word[a:b] for a, b in zip(cuts, cuts[1:])]


def break_word(word: str, room: float, style: ParagraphStyle) -> list[str]:
    """`word` in pieces of at most `room` points, cut at the last separator that fits.

    A stretch with no separator that is still too wide is left whole: reportlab
    then splits it where it must (a 150-character folder name has no better place).
    """
    if _width(word, style) <= room or must_stay_whole(word) or not has_separator(word):
        return [word]
    pieces: list[str] = []
    start = 0
    points = _break_points(word) + [len(word)]
    while start < len(word):
        fits = [p for p in points if p > start and _width(word[start:p], style) <= room]
        end = fits[-1] if fits else next((p for p in points if p > start), len(word))
        pieces.append(word[start:end])
        start = end
    return pieces


_SPACES = re.compile(r"[ \t\r\n]+")   # not U+00A0: "n = 36" is written to stay on one line


@dataclass
class Cell:
    """One cell's text before it becomes a Paragraph, so its words can be measured.

    `note` is a second, muted line (a rate's n); it is sized like the text.
    """

    text: str
    style: ParagraphStyle
    note: str = ""
    note_colour: str = ""

    def words(self) -> list[str]:
        return [w for w in _SPACES.split(f"{self.text} {self.note}") if w]

    def _markup(self, text: str, room: float) -> str:
        return " ".join("<br/>".join(escape(p) for p in break_word(w, room, self.style))
                        for w in _SPACES.split(text) if w)

    def need(self, cap: float, split_ids: bool) -> float:
        """Points the widest word needs. Figures and hashes need all of their width;
        other words claim at most `cap` (a longer one is split where it must be);
        with `split_ids`, a word with separators claims only its widest segment."""
        def one(w: str) -> float:
            if must_stay_whole(w):
                return _width(w, self.style)
            if split_ids and has_separator(w):
                return min(cap, max(_width(s, self.style) for s in _segments(w)))
            return min(cap, _width(w, self.style))
        return max((one(w) for w in self.words()), default=0.0)

    def paragraph(self, width: float) -> Paragraph:
        """The cell laid out for a column `width` points wide (padding included)."""
        room = width - 2 * CELL_PADDING - 0.5
        text = self._markup(self.text, room)
        if self.note:
            text += (f"<br/><font color='{self.note_colour}'>{self._markup(self.note, room)}"
                     f"</font>" if self.note_colour else f"<br/>{self._markup(self.note, room)}")
        return Paragraph(text, self.style)


def need_of(cell: Cell | Paragraph, cap: float, split_ids: bool) -> float:
    """Width a cell's widest word needs, padding included (a ready Paragraph: all of it)."""
    inner = cell.need(cap, split_ids) if isinstance(cell, Cell) else cell.minWidth()
    return inner + 2 * CELL_PADDING + 0.5


def fit_widths(given: list[float], need: list[float]) -> list[float] | None:
    """Widen every column narrower than its widest word, taking the room from columns
    with spare width in proportion to what they spare; None when the table cannot fit."""
    short = sum(max(0.0, n - g) for g, n in zip(given, need))
    if short <= 0:
        return list(given)
    spare = [max(0.0, g - n) for g, n in zip(given, need)]
    if sum(spare) < short:
        return None
    take = short / sum(spare)
    return [n if n > g else g - s * take for g, n, s in zip(given, need, spare)]


def column_widths(rows: list[list[Cell | Paragraph]], given: list[float], frame: float,
                  split_ids: bool = False) -> list[float] | None:
    """Column widths (points) at which no word of `rows` is broken, or None.

    With `split_ids`, words with separators (paths, long ids) may break after
    one; figures and hashes must fit whole either way.
    """
    cap = BREAKABLE_CAP * frame
    need = [max((need_of(r[i], cap, split_ids) for r in rows if i < len(r)), default=0.0)
            for i in range(len(given))]
    return fit_widths(given, need)
