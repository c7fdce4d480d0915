"""verify compares every figure a signed report carries, and only those: figures a later
SafeVet learned to compute (absent from an older report) are not a mismatch, while a
changed or vanished signed figure is."""
from __future__ import annotations

from engine.report.verify import _diff

SIGNED = {"cells": [{"accuracy": {"value": 0.5, "lo": 0.3}}], "judges": [{"kappa": 0.7}]}


def test_a_figure_added_since_signing_is_not_a_mismatch():
    fresh = {"cells": [{"accuracy": {"value": 0.5, "lo": 0.3, "method": "bootstrap"},
                        "baselines": {"chance": 0.25}}],
             "judges": [{"kappa": 0.7, "split": "heldout"}], "judge_concordance": []}
    assert _diff(SIGNED, fresh) == []


def test_a_changed_or_missing_signed_figure_is():
    changed = {"cells": [{"accuracy": {"value": 0.6, "lo": 0.3}}], "judges": [{"kappa": 0.7}]}
    assert _diff(SIGNED, changed) == ["cells[0].accuracy.value: report 0.5, store 0.6"]
    gone = {"cells": [{"accuracy": {"value": 0.5}}], "judges": [{"kappa": 0.7}]}
    assert _diff(SIGNED, gone) == ["cells[0].accuracy.lo: report 0.3, store None"]
