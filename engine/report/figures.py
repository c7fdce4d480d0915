"""The figures of one model in one run, computed the same way by `report` and `verify`.

Both call this with the same tau, bootstrap count and seed (recorded in the
manifest), so a fresh recomputation from the results store must equal the
embedded figures exactly; any difference means the store or the PDF changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import NotFoundError, SafeVetError
from engine.metrics.types import RunMetrics
from engine.store.db import ResultsStore
from engine.suites.schema import Suite
from engine.workspace import Workspace

DEFAULT_N_BOOT = 2000
DEFAULT_SEED = 0
DEFAULT_TAU = 0.8


@dataclass(frozen=True)
class MetricParams:
    tau: float = DEFAULT_TAU
    n_boot: int = DEFAULT_N_BOOT
    seed: int = DEFAULT_SEED

    def as_dict(self) -> dict[str, Any]:
        return {"tau": self.tau, "n_boot": self.n_boot, "seed": self.seed}


def run_tau(run: dict) -> float:
    """τ as the run was configured (a setting), else SafeVet's default 0.8."""
    settings = ((run.get("config") or {}).get("settings") or {})
    try:
        return float(settings.get("tau", DEFAULT_TAU))
    except (TypeError, ValueError):
        return DEFAULT_TAU


def run_suite_refs(run: dict) -> list[dict]:
    """The run's suites as planned: [{id, version, sha256}], tolerant of older records."""
    out = []
    for s in ((run.get("config") or {}).get("suites") or []):
        if isinstance(s, str):
            sid, _, ver = s.partition("@")
            out.append({"id": sid, "version": ver or None, "sha256": None})
        elif isinstance(s, dict) and s.get("id"):
            out.append({"id": s["id"], "version": s.get("version"),
                        "sha256": s.get("sha256") or s.get("items_sha256")})
    return out


def load_run_suites(ws: Workspace, store: ResultsStore, run: dict, model: str) -> dict[str, Suite]:
    """Resolve every suite the model was scored on, at the exact version, hash-checked."""
    from engine.suites.registry import resolve_suite

    refs = {r["id"]: r for r in run_suite_refs(run)}
    for row in store.query("SELECT DISTINCT suite_id, suite_version FROM calls "
                           "WHERE run_id=? AND model=?", (run["id"], model)):
        refs.setdefault(row["suite_id"], {"id": row["suite_id"], "version": row["suite_version"],
                                          "sha256": None})
    suites: dict[str, Suite] = {}
    for sid, ref in refs.items():
        key = f"{sid}@{ref['version']}" if ref.get("version") else sid
        try:
            suite = resolve_suite(ws, key)
        except NotFoundError as exc:
            raise SafeVetError(f"run {run['id']} was scored on suite {key}, which is not in "
                               f"this workspace; import that suite version to report on the "
                               f"run") from exc
        if ref.get("sha256") and ref["sha256"] != suite.manifest.items_sha256:
            raise SafeVetError(f"suite {key}: items sha256 {suite.manifest.items_sha256} differs "
                               f"from the {ref['sha256']} the run recorded; the figures would "
                               f"not be the ones the run measured")
        suites[sid] = suite
    return suites


def compute_model_metrics(ws: Workspace, store: ResultsStore, run_id: str, model: str,
                          params: MetricParams,
                          suites: dict[str, Suite] | None = None) -> RunMetrics:
    """RunMetrics restricted to one candidate model (its worst cases are its own)."""
    from engine.metrics.compute import compute_run_metrics

    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path}")
    if suites is None:
        suites = load_run_suites(ws, store, run, model)
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
