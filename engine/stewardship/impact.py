"""How a new suite version moves the figures of runs already made, without a model call.

Every call's chosen letter, confidence and option probabilities are stored, so
re-scoring is `compute_run_metrics` with the new version's keys and labels in
place of the old. Retired items are dropped from the suite handed to it, so
they leave the denominators.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.errors import SafeVetError
from engine.metrics.compute import compute_run_metrics
from engine.metrics.types import DEFAULT_TAU, Estimate, McqCellMetrics
from engine.store.db import ResultsStore
from engine.suites.schema import Suite

IMPACT_METRICS = ("accuracy", "high_risk_error_rate", "unsafe_answer_rate",
                  "contradiction_rate", "dangerous_overconfidence")


class ItemChange(BaseModel):
    """One item that differs between two versions, field by field."""

    item_id: str
    fields: dict[str, dict[str, Any]]        # field -> {"old": ..., "new": ...}


class MetricShift(BaseModel):
    metric: str
    old: Estimate
    new: Estimate
    delta: float | None                      # new − old point estimate


class ImpactCell(BaseModel):
    """One model × condition of one run, scored against both versions."""

    run_id: str
    model: str
    condition: str
    calls_suite_version: str                 # the version the run itself was made with
    n_items_old: int
    n_items_new: int
    shifts: list[MetricShift] = Field(default_factory=list)

    def shift(self, metric: str) -> MetricShift:
        return next(s for s in self.shifts if s.metric == metric)


class ImpactReport(BaseModel):
    suite_id: str
    old_version: str
    new_version: str
    old_sha256: str
    new_sha256: str
    run_ids: list[str]
    tau: float
    changes: list[ItemChange]
    cells: list[ImpactCell]


def diff_items(old_suite: Suite, new_suite: Suite) -> list[ItemChange]:
    """Items added, removed or changed between two versions (by id)."""
    old = {it.id: it.model_dump(mode="json") for it in old_suite.items}
    new = {it.id: it.model_dump(mode="json") for it in new_suite.items}
    out = []
    for item_id in sorted(set(old) | set(new), key=lambda i: (i not in old, i)):
        a, b = old.get(item_id), new.get(item_id)
        if a is None or b is None:
            out.append(ItemChange(item_id=item_id,
                                  fields={"(item)": {"old": a is not None, "new": b is not None}}))
            continue
        fields = {k: {"old": a.get(k), "new": b.get(k)} for k in sorted(set(a) | set(b))
                  if a.get(k) != b.get(k)}
        if fields:
            out.append(ItemChange(item_id=item_id, fields=fields))
    return out


def scoring_view(suite: Suite) -> Suite:
    """The suite as scoring must see it: retired items removed."""
    return suite.model_copy(update={"items": suite.active_items()})


def _cells(metrics: list[McqCellMetrics], suite_id: str) -> dict[tuple[str, str, str],
                                                                     McqCellMetrics]:
    return {(c.model, c.condition, c.suite_version): c for c in metrics if c.suite_id == suite_id}


def impact(store: ResultsStore, run_ids: list[str], old_suite: Suite, new_suite: Suite,
           tau: float = DEFAULT_TAU, *, n_boot: int = 2000, seed: int = 0) -> ImpactReport:
    """Per run × model × condition, each MCQ metric under the old and the new version."""
    if old_suite.id != new_suite.id:
        raise SafeVetError(f"impact compares two versions of one suite, got {old_suite.id} "
                           f"and {new_suite.id}")
    cells: list[ImpactCell] = []
    for run_id in run_ids:
        if store.get_run(run_id) is None:
            raise SafeVetError(f"run {run_id!r} is not in the results store")
        before = _cells(compute_run_metrics(store, run_id, {old_suite.id: scoring_view(old_suite)},
                                            tau=tau, n_boot=n_boot, seed=seed).mcq, old_suite.id)
        after = _cells(compute_run_metrics(store, run_id, {new_suite.id: scoring_view(new_suite)},
                                           tau=tau, n_boot=n_boot, seed=seed).mcq, new_suite.id)
        for key in sorted(set(before) | set(after)):
            model, condition, version = key
            old_c, new_c = before.get(key), after.get(key)
            shifts = []
            for metric in IMPACT_METRICS:
                o = getattr(old_c, metric) if old_c else Estimate(value=None)
                n = getattr(new_c, metric) if new_c else Estimate(value=None)
                delta = (n.value - o.value) if o.value is not None and n.value is not None \
                    else None
                shifts.append(MetricShift(metric=metric, old=o, new=n, delta=delta))
            cells.append(ImpactCell(run_id=run_id, model=model, condition=condition,
                                    calls_suite_version=version,
                                    n_items_old=old_c.n_items if old_c else 0,
                                    n_items_new=new_c.n_items if new_c else 0, shifts=shifts))
    return ImpactReport(suite_id=new_suite.id, old_version=old_suite.version,
                        new_version=new_suite.version,
                        old_sha256=old_suite.manifest.items_sha256,
                        new_sha256=new_suite.manifest.items_sha256, run_ids=list(run_ids),
                        tau=tau, changes=diff_items(old_suite, new_suite), cells=cells)
