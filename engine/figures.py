"""The figures of a run: the one function every surface gets its numbers from.

The desktop's Results page, the CLI's tables, the CSV and JSON exports, the
signed PDF and `verify`'s recomputation all call `run_figures`, with the same
τ (the run's own setting), the same bootstrap resample count and the same seed
(recorded beside the figures: the report manifest's and the JSON export's
`metric_params`), so one cell shows the same interval wherever a
committee member looks. A figure restricted to one model equals that model's
cell of the whole run: every bootstrap draws from a generator seeded per cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import NotFoundError
from engine.metrics.types import DEFAULT_TAU, CallOrder, RunMetrics
from engine.runs.records import RunRecord
from engine.runs.run_suites import load_run_suites
from engine.store.db import ResultsStore
from engine.suites.schema import Suite
from engine.workspace import Workspace

# The one resample count and seed of every interval SafeVet shows.
DEFAULT_N_BOOT = 2000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class MetricParams:
    """What the intervals depend on besides the calls; embedded in every report manifest."""

    tau: float = DEFAULT_TAU
    n_boot: int = DEFAULT_N_BOOT
    seed: int = DEFAULT_SEED
    # The order a cell's calls are read in (engine.metrics.types CALL_ORDERS): "key" for
    # every figure computed now; a manifest written before the field existed was computed
    # in "stored" order, and verify recomputes it that way.
    call_order: CallOrder = "key"

    @classmethod
    def of_run(cls, run: RunRecord) -> "MetricParams":
        return cls(tau=run.config.settings.tau)

    def as_dict(self) -> dict[str, Any]:
        return {"tau": self.tau, "n_boot": self.n_boot, "seed": self.seed,
                "call_order": self.call_order}


def run_suites_for(store: ResultsStore, run: RunRecord, ws: Workspace | None = None,
                   model: str | None = None) -> dict[str, Suite]:
    """Every suite scored in the run (by `model`, when given), exact version, hash-checked."""
    scored = store.suite_versions_scored(run.id, model) if model else []
    return {s.id: s for s in load_run_suites(run.config, ws, scored=scored)}


def run_figures(store: ResultsStore, run_id: str, *, ws: Workspace | None = None,
                model: str | None = None, params: MetricParams | None = None,
                suites: dict[str, Suite] | None = None) -> RunMetrics:
    """All figures of the run, or of one candidate model (its worst cases are its own)."""
    from engine.metrics.compute import compute_run_metrics

    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path}")
    params = params or MetricParams.of_run(run)
    if suites is None:
        suites = run_suites_for(store, run, ws, model)
    metrics = compute_run_metrics(store, run_id, suites, tau=params.tau, n_boot=params.n_boot,
                                  seed=params.seed, models=[model] if model else None,
                                  call_order=params.call_order)
    return restrict_to_model(metrics, model) if model else metrics


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
