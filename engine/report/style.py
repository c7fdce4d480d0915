"""Fonts, colours and paragraph styles of the report, read from assets/report/style.toml.

DejaVu (shipped with matplotlib) is registered instead of the PDF base fonts,
which cannot show τ, ≤ or Δ; text extraction still works because reportlab
embeds a ToUnicode map for TrueType subsets.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from engine.workspace import ASSETS_DIR

STYLE_FILE = ASSETS_DIR / "report" / "style.toml"


@dataclass(frozen=True)
class Style:
    page_size: tuple[float, float]
    margin: float
    colours: dict[str, colors.Color]
    styles: dict[str, ParagraphStyle]
    font: str
    bold: str
    mono: str

    @property
    def frame_width(self) -> float:
        return self.page_size[0] - 2 * self.margin


def _font_dir() -> Path:
    import matplotlib
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=1)
def load_style() -> Style:
    cfg = tomllib.loads(STYLE_FILE.read_text(encoding="utf-8"))
    fonts = cfg["font"]
    fd = _font_dir()
    names = {"regular": "SV-Regular", "bold": "SV-Bold", "italic": "SV-Italic", "mono": "SV-Mono"}
    for key, rl_name in names.items():
        if rl_name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(rl_name, str(fd / fonts[key])))
    pdfmetrics.registerFontFamily("SV-Regular", normal="SV-Regular", bold="SV-Bold",
                                  italic="SV-Italic", boldItalic="SV-Bold")
    col = {k: colors.HexColor(v) for k, v in cfg["colour"].items()}
    body, small = float(fonts["body_size"]), float(fonts["small_size"])
    base = ParagraphStyle("body", fontName="SV-Regular", fontSize=body, leading=body * 1.3,
                          textColor=col["text"], alignment=TA_LEFT, spaceAfter=3)
    st = {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=small, leading=small * 1.25,
                                spaceAfter=0),
        "muted": ParagraphStyle("muted", parent=base, fontSize=small, leading=small * 1.3,
                                textColor=col["muted"]),
        "cell": ParagraphStyle("cell", parent=base, fontSize=small, leading=small * 1.22,
                               spaceAfter=0),
        "cellb": ParagraphStyle("cellb", parent=base, fontName="SV-Bold", fontSize=small - 0.3,
                                leading=small * 1.2, spaceAfter=0),
        "mono": ParagraphStyle("mono", parent=base, fontName="SV-Mono", fontSize=6.3,
                               leading=7.6, spaceAfter=0),
        "title": ParagraphStyle("title", parent=base, fontName="SV-Bold", fontSize=18,
                                leading=22, textColor=col["accent"], spaceAfter=6),
        "h1": ParagraphStyle("h1", parent=base, fontName="SV-Bold", fontSize=13, leading=16,
                             textColor=col["accent"], spaceBefore=4, spaceAfter=5),
        "h2": ParagraphStyle("h2", parent=base, fontName="SV-Bold", fontSize=10.5, leading=13,
                             textColor=col["accent"], spaceBefore=6, spaceAfter=3),
        "verdict": ParagraphStyle("verdict", parent=base, fontName="SV-Bold", fontSize=16,
                                  leading=20, spaceAfter=6),
    }
    page = A4 if cfg["page"].get("size", "A4") == "A4" else A4
    return Style(page_size=page, margin=float(cfg["page"]["margin_mm"]) * mm, colours=col,
                 styles=st, font="SV-Regular", bold="SV-Bold", mono="SV-Mono")
