"""How SafeVet writes a figure for people to read: one module for the CLI, desktop and report.

A committee compares the figure in a PDF with the one on the screen and in the
terminal, so a rate, its interval, a score, a count and a "not measured" must
be written by the same rules everywhere. Each surface has one `NumberStyle`
(CLI, DESKTOP, REPORT), defined once below: its placeholder, its brackets and
the one dash between the bounds of an interval. The functions are pure and
import neither Qt nor reportlab, so every surface can call them.

An interval is written the same whichever method gave it: the bootstrap's, or
the exact Clopper-Pearson interval the metrics give a rate of 0/n or n/n (the
estimate records which; `interval_note` says it in words). An estimate marked
not applicable (its suite carries no label it counts) is written as such, with
the reason where the surface has room for it, never as a figure.

The raw-figure appendix is not a style: it is a grammar that tests and
auditors parse back (`raw`, `raw_estimate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Union

if TYPE_CHECKING:
    from engine.metrics.types import Estimate

# A figure as the engine hands it over: an Estimate with its interval, a bare value
# (the live headline during a run has no interval yet), or nothing at all.
Figure = Union["Estimate", float, None]

DASH = "–"   # en dash: between interval bounds on every surface, and the screens' placeholder


@dataclass(frozen=True)
class NumberStyle:
    """The conventions of one surface; every function below takes one as `style=`."""

    missing: str            # a bare value that is absent (an empty cell)
    not_measured: str       # an estimate with no value: nothing was measured
    percent_sign: str       # after a rate's point value ("" where the header says %)
    brackets: tuple[str, str]
    bound_drop: int         # the bounds carry this many decimals fewer than the point
    no_interval: str        # appended when an interval was asked for but there is none
    points_unit: str        # after a difference in percentage points
    points_gap: str         # between a difference (and its unit) and its interval
    signed_sep: str         # between signed bounds, where a dash would read as a minus
    not_applicable: str = "n/a"   # a figure that cannot exist here; "{reason}" is filled in


# Terminal tables: the header says "%", columns are narrow, so bounds are whole percents.
CLI = NumberStyle(missing=DASH, not_measured=DASH, percent_sign="",
                  brackets=("[", "]"), bound_drop=1, no_interval="", points_unit="",
                  points_gap=" ", signed_sep=", ", not_applicable="n/a ({reason})")
# Desktop tables: cells stand alone when copied, so they carry "%" and "pts".
DESKTOP = NumberStyle(missing=DASH, not_measured=DASH, percent_sign="%",
                      brackets=("[", "]"), bound_drop=1, no_interval="", points_unit=" pts",
                      points_gap="  ", signed_sep=", ", not_applicable="n/a")
# The signed PDF: read on paper, with time; bounds at the point's precision, words for
# what is missing, an em dash for an empty cell.
REPORT = NumberStyle(missing="—", not_measured="not measured",
                     percent_sign="%", brackets=("(", ")"), bound_drop=0,
                     no_interval=" (no CI)", points_unit="", points_gap=" ",
                     signed_sep=" to ", not_applicable="n/a — {reason}")


def _parts(figure: Figure) -> tuple[float | None, float | None, float | None]:
    """(value, low, high) of an Estimate or a bare number; callers then need no duck-typing."""
    if figure is None:
        return None, None, None
    if isinstance(figure, (int, float)):
        return float(figure), None, None
    return figure.value, figure.low, figure.high


def not_applicable(figure: Figure, *, style: NumberStyle) -> str | None:
    """The style's "n/a" text (with the reason where it has room) for an estimate marked
    not applicable; None for any other figure."""
    reason = getattr(figure, "not_applicable", None)
    return None if reason is None else style.not_applicable.format(reason=reason)


INTERVAL_METHODS = {
    "bootstrap": "95% percentile bootstrap interval over items",
    "clopper_pearson": "exact 95% Clopper-Pearson interval (every item agreed: 0/n or n/n)",
}


def interval_note(e: Estimate | None) -> str:
    """Which method gave an estimate's interval, in words ('' when it has none)."""
    method = getattr(e, "method", None)
    return INTERVAL_METHODS.get(method, "") if method else ""


def _interval(low: str, high: str, sep: str, style: NumberStyle) -> str:
    open_, close = style.brackets
    return f"{open_}{low}{sep}{high}{close}"


def _with_bounds(text: str, low: float | None, high: float | None, scale: float, digits: int,
                 style: NumberStyle, interval: bool) -> str:
    """A point's text followed by its interval (unsigned bounds, the style's one dash)."""
    if not interval:
        return text
    if low is None or high is None:
        return text + style.no_interval
    d = max(0, digits - style.bound_drop)
    return f"{text} " + _interval(f"{scale * low:.{d}f}", f"{scale * high:.{d}f}", DASH, style)


def _whole(n: int | float) -> str:
    return str(int(round(n)))


def count(n: int | float | None, *, style: NumberStyle) -> str:
    """A number of items, calls or tokens: always a whole number.

    A count that reached here as a float (a JSON round trip, a sum) must still
    read "22", never "22.00", which suggests a measured quantity.
    """
    return style.missing if n is None else _whole(n)


def scalar(v: int | float | None, digits: int = 2, *, style: NumberStyle) -> str:
    """A plain number (ECE, Brier, κ, latency, a bound) at a fixed precision.

    Integers are counts and go through `count`, so a table column that mixes
    them with measured values never pads a count with zeros.
    """
    if v is None:
        return style.missing
    if isinstance(v, bool) or not isinstance(v, float):
        return count(v, style=style)
    return f"{v:.{digits}f}"


def setting(v: float) -> str:
    """A configured value (a threshold limit, τ) as its owner wrote it: 0.8, not 0.80."""
    return f"{v:g}"


def percent(v: float | None, digits: int = 1, *, style: NumberStyle) -> str:
    """A rate (a fraction 0-1) as a percentage, without an interval: '12.5%'."""
    if v is None:
        return style.missing
    return f"{100 * v:.{digits}f}{style.percent_sign}"


def rate(e: Figure, *, style: NumberStyle, interval: bool = True) -> str:
    """A rate with its 95% interval in percent: '12.5% [8–17]' (desktop), '12.5% (8.0–17.0)'.

    The interval is what a committee compares with a limit, so it is shown
    whenever there is one; the report says "(no CI)" rather than let a bare
    point pass for a certain figure.
    """
    na = not_applicable(e, style=style)
    if na is not None:
        return na
    value, low, high = _parts(e)
    if value is None:
        return style.not_measured
    return _with_bounds(percent(value, style=style), low, high, 100, 1, style, interval)


def score(e: Figure, digits: int = 2, *, style: NumberStyle, interval: bool = True) -> str:
    """A score on its own scale (CARES 0-1, MedSafetyBench harm 1-5) with its interval.

    Not a percentage: the scale's own units are what the published benchmarks
    report, so the figure can be compared with them directly.
    """
    na = not_applicable(e, style=style)
    if na is not None:
        return na
    value, low, high = _parts(e)
    if value is None:
        return style.not_measured
    return _with_bounds(f"{value:.{digits}f}", low, high, 1, digits, style, interval)


def points(e: Figure, *, style: NumberStyle, interval: bool = True) -> str:
    """A difference of two rates in percentage points, always signed: '+4.0 (-1.5 to +9.5)'.

    The bounds keep the point's precision and a word or comma between them,
    because whether the interval excludes 0 is the point of a difference and
    a dash between two signed numbers reads as a minus.
    """
    na = not_applicable(e, style=style)
    if na is not None:
        return na
    value, low, high = _parts(e)
    if value is None:
        return style.not_measured
    text = f"{100 * value:+.1f}{style.points_unit}"
    if not interval or low is None or high is None:
        return text
    return text + style.points_gap + _interval(f"{100 * low:+.1f}", f"{100 * high:+.1f}",
                                               style.signed_sep, style)


def clock(seconds: float | None, *, style: NumberStyle) -> str:
    """A duration (elapsed, time left) as 'm:ss' or 'h:mm:ss': read at a glance, whole seconds."""
    if seconds is None:
        return style.missing
    whole = int(round(seconds))
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def key_figures(figures: Mapping[str, object]) -> str:
    """A progress line's figures as 'n=22 accuracy=0.45': counts whole, the rest to 2 decimals.

    Values that are not numbers (a rate before the first answer) are left out.
    """
    return " ".join(f"{k}={scalar(v, style=CLI)}" for k, v in figures.items()
                    if isinstance(v, (int, float)))


def percent_span(e: Estimate | None) -> tuple[float, float, float] | None:
    """(point, low, high) in percent for a chart; a missing bound collapses onto the point.

    A figure without an interval still draws, as a bare point, instead of vanishing.
    """
    if e is None or e.value is None:
        return None
    low = e.low if e.low is not None else e.value
    high = e.high if e.high is not None else e.value
    return 100 * e.value, 100 * low, 100 * high


def error_bar(e: Estimate | None) -> tuple[float, float, float] | None:
    """(point, below, above) in percent, as matplotlib's yerr wants: lengths, never negative."""
    span = percent_span(e)
    if span is None:
        return None
    value, low, high = span
    return value, max(0.0, value - low), max(0.0, high - value)


def raw(v: float | None) -> str:
    """A figure for the raw appendix: plain ASCII, six decimals, 'NA' when absent.

    It must survive PDF text extraction and be parsed back, so no locale,
    no unicode and no rounding a reader could mistake for the stored value.
    """
    return "NA" if v is None else f"{v:.6f}"


def raw_estimate(e: Estimate | None) -> str:
    """'value [low, high] n=items' (or 'NA n=items') for the raw appendix; n is a count.

    What follows the count annotates it, so the grammar up to n= never changes: an
    exact interval ends ' exact', a not-applicable figure ' not applicable: reason'."""
    if e is not None and e.not_applicable:
        return f"NA n={_whole(e.n)} not applicable: {e.not_applicable}"
    if e is None or e.value is None:
        return f"NA n={_whole(e.n if e else 0)}"
    exact = " exact" if e.method == "clopper_pearson" else ""
    return f"{raw(e.value)} [{raw(e.low)}, {raw(e.high)}] n={_whole(e.n)}{exact}"
