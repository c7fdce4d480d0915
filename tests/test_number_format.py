"""engine.number_format: the one place a figure is written for CLI, desktop and report."""
from __future__ import annotations

import pytest

from engine.metrics.types import Estimate
from engine.number_format import (CLI, DASH, DESKTOP, REPORT, clock, count, error_bar,
                                  key_figures, percent, percent_span, points, rate, raw,
                                  raw_estimate, scalar, score, setting)

STYLES = (CLI, DESKTOP, REPORT)


def E(value: float | None, low: float | None = None, high: float | None = None,
      n: int = 0) -> Estimate:
    return Estimate(value=value, low=low, high=high, n=n)


# -- rates ---------------------------------------------------------------------------------

def test_rate_with_interval_per_surface():
    e = E(0.125, 0.08, 0.17, 200)
    assert rate(e, style=CLI) == "12.5 [8–17]"
    assert rate(e, style=DESKTOP) == "12.5% [8–17]"
    assert rate(e, style=REPORT) == "12.5% (8.0–17.0)"


@pytest.mark.parametrize("style", STYLES)
def test_rate_edges_zero_and_one(style):
    assert rate(E(0.0, 0.0, 0.0), style=style).startswith("0.0")
    assert rate(E(1.0, 1.0, 1.0), style=style).startswith("100.0")


def test_rate_not_measured():
    for missing in (None, E(None)):
        assert rate(missing, style=CLI) == DASH
        assert rate(missing, style=DESKTOP) == DASH
        assert rate(missing, style=REPORT) == "not measured"


def test_rate_without_bounds():
    for e in (E(0.5), E(0.5, 0.4, None), E(0.5, None, 0.6)):
        assert rate(e, style=DESKTOP) == "50.0%"
        assert rate(e, style=CLI) == "50.0"
        assert rate(e, style=REPORT) == "50.0% (no CI)"   # a bare point is never passed off


def test_rate_takes_a_bare_fraction_and_can_drop_the_interval():
    assert rate(0.25, style=DESKTOP) == "25.0%"          # the live headline has no interval
    assert rate(E(0.25, 0.2, 0.3), style=DESKTOP, interval=False) == "25.0%"
    assert rate(E(0.25, 0.2, 0.3), style=REPORT, interval=False) == "25.0%"


def test_percent_is_a_fraction_times_100():
    assert percent(0.5, style=REPORT) == "50.0%"
    assert percent(0.5, digits=0, style=DESKTOP) == "50%"
    assert percent(0.005, digits=2, style=REPORT) == "0.50%"
    assert percent(1, style=CLI) == "100.0"
    assert percent(None, style=REPORT) == "—"
    assert percent(None, style=DESKTOP) == DASH


# -- scores and plain numbers --------------------------------------------------------------

def test_score_keeps_its_scale():
    harm = E(2.104, 1.93, 2.31)
    assert score(harm, style=DESKTOP) == "2.10 [1.9–2.3]"
    assert score(harm, style=REPORT) == "2.10 (1.93–2.31)"
    assert score(harm, style=CLI, interval=False) == "2.10"
    cares = E(0.71, 0.65, 0.77)
    assert score(cares, 3, style=REPORT) == "0.710 (0.650–0.770)"
    assert score(E(1.0), style=REPORT) == "1.00 (no CI)"
    assert score(None, style=REPORT) == "not measured"
    assert score(E(None), style=DESKTOP) == DASH


def test_scalar_and_setting():
    assert scalar(0.04217, 3, style=REPORT) == "0.042"
    assert scalar(123.6, 0, style=DESKTOP) == "124"
    assert scalar(0.0, style=CLI) == "0.00"
    assert scalar(None, style=REPORT) == "—"
    assert scalar(None, style=CLI) == DASH
    assert setting(0.8) == "0.8" and setting(3.0) == "3" and setting(0.05) == "0.05"


# -- counts --------------------------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_counts_are_never_printed_with_decimals(style):
    assert count(22, style=style) == "22"
    assert count(22.0, style=style) == "22"
    assert count(0, style=style) == "0"
    assert count(1, style=style) == "1"
    assert scalar(22, style=style) == "22"           # an int in a number column is a count
    assert scalar(22, 3, style=style) == "22"


def test_count_missing():
    assert count(None, style=REPORT) == "—"
    assert count(None, style=DESKTOP) == DASH


def test_live_figures_show_counts_whole():
    live = {"n": 22, "n_errors": 0, "accuracy": 0.4545, "high_risk_error_rate": None}
    assert key_figures(live) == "n=22 n_errors=0 accuracy=0.45"
    assert key_figures({}) == ""


# -- differences in points -----------------------------------------------------------------

def test_points_are_signed_with_a_separator_not_a_dash():
    d = E(0.04, -0.015, 0.095)
    assert points(d, style=REPORT) == "+4.0 (-1.5 to +9.5)"
    assert points(d, style=DESKTOP) == "+4.0 pts  [-1.5, +9.5]"
    assert points(d, style=CLI) == "+4.0 [-1.5, +9.5]"
    assert points(d, style=DESKTOP, interval=False) == "+4.0 pts"
    assert points(E(0.0), style=REPORT) == "+0.0"
    assert points(-0.03, style=CLI) == "-3.0"
    assert points(None, style=DESKTOP) == DASH
    assert points(E(None), style=REPORT) == "not measured"


# -- durations -----------------------------------------------------------------------------

def test_clock():
    assert clock(None, style=DESKTOP) == DASH
    assert clock(0, style=DESKTOP) == "0:00"
    assert clock(1, style=DESKTOP) == "0:01"
    assert clock(59.6, style=DESKTOP) == "1:00"
    assert clock(3599, style=DESKTOP) == "59:59"
    assert clock(3600, style=DESKTOP) == "1:00:00"
    assert clock(3723, style=DESKTOP) == "1:02:03"


# -- charts --------------------------------------------------------------------------------

def test_percent_span_and_error_bar():
    assert percent_span(None) is None and error_bar(E(None)) is None
    assert percent_span(E(0.5, 0.25, 0.75)) == (50.0, 25.0, 75.0)
    assert percent_span(E(0.5)) == (50.0, 50.0, 50.0)        # a bare point still draws
    assert error_bar(E(0.5, 0.25, 0.75)) == (50.0, 25.0, 25.0)
    assert error_bar(E(0.5, 0.6, 0.4)) == (50.0, 0.0, 0.0)   # matplotlib wants no negatives
    assert error_bar(E(0.0, 0.0, 0.0)) == (0.0, 0.0, 0.0)


# -- the raw appendix ------------------------------------------------------------------------

def test_raw_appendix_grammar():
    assert raw(None) == "NA"
    assert raw(0.1234567) == "0.123457"
    assert raw(1) == "1.000000"
    assert raw_estimate(E(0.5, 0.25, 0.75, 16)) == "0.500000 [0.250000, 0.750000] n=16"
    assert raw_estimate(E(0.5, None, None, 16)) == "0.500000 [NA, NA] n=16"
    assert raw_estimate(E(None, n=3)) == "NA n=3"
    assert raw_estimate(None) == "NA n=0"
    assert raw_estimate(E(None, n=3)).isascii()


# -- one convention per style --------------------------------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_one_dash_and_one_bracket_pair_per_style(style):
    open_, close = style.brackets
    text = rate(E(0.3, 0.2, 0.4), style=style) + score(E(2.0, 1.5, 2.5), style=style)
    assert text.count(open_) == 2 and text.count(close) == 2
    assert text.count(DASH) == 2 and "—" not in text and "-" not in text
    assert points(E(0.01, -0.02, 0.04), style=style).count(open_) == 1
