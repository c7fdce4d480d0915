"""PASS / FAIL against each governance threshold, beside the figures it judges.

The committee reads a verdict before a number; the Results page shows, for every
model × suite × condition row, the same verdict the signed report will print
(engine.report.thresholds.evaluate on the same figures and the same thresholds
file), one column per threshold, so nobody has to compare an interval bound with
a limit by eye.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop.style import theme
from desktop.widgets.common import DASH
from desktop.widgets.tables import Cell

SHORT = {"accuracy": "Accuracy", "high_risk_error_rate": "High-risk",
         "unsafe_answer_rate": "Unsafe", "contradiction_rate": "Contradiction",
         "dangerous_overconfidence": "Overconf.", "cares_safety_score": "CARES",
         "mean_harmfulness": "Harm", "harmful_share_ge4": "Harm ≥ 4",
         "over_refusal_rate": "Over-refusal", "cares_level0_over_refusal": "L0 refusal",
         "safe_completion_rate": "Safe compl."}
VERDICT_ORDER = {"FAIL": 0, "NOT ASSESSED": 1, "PASS": 2}


@dataclass
class ThresholdColumns:
    """The thresholds file's limits as table columns; `error` when the file cannot be read
    (the figures still show, with no verdict columns)."""

    path: str | None = None
    mcq_keys: list[str] = field(default_factory=list)
    open_keys: list[str] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        from engine.report.thresholds import load_thresholds

        try:
            self.ts = load_thresholds(Path(self.path) if self.path else None)
        except Exception as exc:  # a broken file must not take the page down; say why
            self.ts, self.error = None, str(exc)
            return
        keys: dict[str, None] = {}
        for lim in self.ts.mcq_default.values():
            keys[lim.key] = None
        for limits in self.ts.mcq_by_condition.values():
            for lim in limits.values():
                keys[lim.key] = None
        self.mcq_keys = list(keys)
        self.open_keys = [lim.key for lim in self.ts.open_limits.values()]

    # -- headers ------------------------------------------------------------
    @staticmethod
    def _metric(key: str) -> tuple[str, str]:
        kind, _, metric = key.partition("_")
        return kind, metric

    def header(self, key: str) -> str:
        kind, metric = self._metric(key)
        return f"{SHORT.get(metric, metric)}\n{'≤' if kind == 'max' else '≥'} limit"

    def header_tip(self, key: str) -> str:
        from engine.report.thresholds import RULE_TEXT

        lines = []
        if self.ts is not None:
            for lim in self.ts.mcq_default.values():
                if lim.key == key:
                    lines.append(f"{key} = {self._limit_text(lim.metric, lim.value)} (default)")
            for cond, limits in self.ts.mcq_by_condition.items():
                for lim in limits.values():
                    if lim.key == key:
                        lines.append(f"{key} = {self._limit_text(lim.metric, lim.value)} "
                                     f"under {cond}")
            for lim in self.ts.open_limits.values():
                if lim.key == key:
                    lines.append(f"{key} = {self._limit_text(lim.metric, lim.value)}")
        return "\n".join(lines + ["", RULE_TEXT])

    def mcq_headers(self) -> list[str]:
        return [self.header(k) for k in self.mcq_keys]

    def open_headers(self) -> list[str]:
        return [self.header(k) for k in self.open_keys]

    # -- cells --------------------------------------------------------------
    @staticmethod
    def _limit_text(metric: str, value: float) -> str:
        from engine.report.thresholds import MCQ_METRICS, OPEN_METRICS

        spec = MCQ_METRICS.get(metric) or OPEN_METRICS.get(metric)
        return f"{100 * value:g}%" if spec is not None and spec.percent else f"{value:g}"

    def verdicts(self, metrics) -> dict[tuple[str, str, str, str], object]:
        """(model, suite, condition, key) -> ThresholdResult; of several (one per judge), the
        worst, as the report's overall verdict would count it."""
        from engine.report.thresholds import evaluate

        out: dict[tuple[str, str, str, str], object] = {}
        if self.ts is None or metrics is None:
            return out
        models = sorted({c.model for c in metrics.mcq} | {c.model for c in metrics.open})
        for model in models:
            for r in evaluate(metrics, model, self.ts):
                key = (model, r.suite_id, r.condition, r.key)
                old = out.get(key)
                if old is None or VERDICT_ORDER.get(r.verdict.value, 1) < \
                        VERDICT_ORDER.get(old.verdict.value, 1):
                    out[key] = r
        return out

    def cell(self, result) -> Cell:
        if result is None:
            return Cell(DASH, tip="No limit for this condition in the thresholds file.")
        t = theme()
        verdict = result.verdict.value
        color = {"PASS": t.ok, "FAIL": t.danger}.get(verdict, t.muted)
        bound = "" if result.bound is None else \
            f"; bound {self._limit_text(result.key.partition('_')[2], result.bound)}"
        tip = (f"{result.label}: {result.kind} {self._limit_text(result.key.partition('_')[2], result.limit)}"
               f"{bound} — {verdict}" + (f" ({result.reason})" if result.reason else ""))
        return Cell(verdict, sort=VERDICT_ORDER.get(verdict, 1), color=color, tip=tip)

    def row_cells(self, verdicts: dict, model: str, suite_id: str, condition: str,
                  keys: list[str]) -> list[Cell]:
        return [self.cell(verdicts.get((model, suite_id, condition, k))) for k in keys]
