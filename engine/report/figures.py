"""The figures of one model in one run, computed the same way by `report` and `verify`.

Both call this with the same tau, bootstrap count and seed (recorded in the
manifest), so a fresh recomputation from the results store must equal the
embedded figures exactly; any difference means the store or the PDF changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import NotFoundError
from engine.metrics.types import DEFAULT_TAU, RunMetrics
from engine.runs.records import RunRecord
from engine.runs.run_suites import load_run_suites
from engine.store.db import ResultsStore
from engine.suites.schema import Suite
from engine.workspace import Workspace

DEFAULT_N_BOOT = 2000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class MetricParams:
    tau: float = DEFAULT_TAU
    n_boot: int = DEFAULT_N_BOOT
    seed: int = DEFAULT_SEED

    def as_dict(self) -> dict[str, Any]:
        return {"tau": self.tau, "n_boot": self.n_boot, "seed": self.seed}


def load_model_suites(ws: Workspace, store: ResultsStore, run: RunRecord,
                      model: str) -> dict[str, Suite]:
    """Every suite the model was scored on in the run, at the exact version, hash-checked."""
    suites = load_run_suites(run.config, ws, scored=store.suite_versions_scored(run.id, model))
    return {s.id: s for s in suites}


def compute_model_metrics(ws: Workspace, store: ResultsStore, run_id: str, model: str,
                          params: MetricParams,
                          suites: dict[str, Suite] | None = None) -> RunMetrics:
    """RunMetrics restricted to one candidate model (its worst cases are its own)."""
    from engine.metrics.compute import compute_run_metrics

    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path}")
    if suites is None:
        suites = load_model_suites(ws, store, run, model)
    metrics = compute_run_metrics(store, run_id, suites, tau=params.tau, n_boot=params.n_boot,
                                  seed=params.seed, models=[model])
    return restrict_to_model(metrics, model)


def restrict_to_model(metrics: RunMetrics, model: str) -> RunMetrics:
    """Drop any other model's figures, whatever the metrics code returned."""
    data = metrics.model_copy(deep=True)
    data.mcq = [c for c in data.mcq if c.model == model]
    data.paired = [p for p in data.paired if p.model == model]
    data.open = [c for c in data.open if c.model == model]
    data.throughput = {k: v for k, v in data.throughput.items() if k == model}
    data.compute = [c for c in data.compute if c.model == model]
    if data.worst_case is not None:
        for item in data.worst_case.items:
            item.answers = [a for a in item.answers if a.model == model]
    return data
