"""A lineage's cycles in order: the cycle-over-cycle table of the CARES alignment work.

Each alignment cycle trades harmful-query handling against erroneous refusals,
so the table gives, per version in lineage order (engine.models.lineage), the
share of harmful prompts it did not answer unsafely and the share of benign
prompts it refused, beside its MCQ accuracy and high-risk error rate under one
condition, each with a 95% bootstrap interval. Figures are pooled over the run's
suites, judged by one judge for every cycle (a reviewer's override counted in its
place), so the rows differ by the model only. Each version after the first is
also compared with its parent item by item (engine.compare.candidates), where the
two were run comparably.
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from engine.compare.candidates import (comparability_problem, compare_candidates,
                                       run_candidates)
from engine.compare.outcomes import (automatic_judges, judgments_by_call, open_item_values,
                                     verdict_for)
from engine.compare.reliance import DEFAULT_MIN_JUDGE_KAPPA, JudgeReliance, reliance
from engine.compare.types import CandidateComparison, CandidateRef
from engine.errors import NotFoundError
from engine.figures import DEFAULT_N_BOOT, DEFAULT_SEED, run_suites_for
from engine.metrics.bootstrap import bootstrap_mean, cell_rng
from engine.metrics.mcq import PRIMARY, score_call
from engine.metrics.types import Estimate
from engine.models.lineage import LineageEntry, require_lineage
from engine.store.db import ResultsStore
from engine.workspace import Workspace

DEFAULT_CONDITION = "closed_book"


class CycleFigures(BaseModel):
    """One version's row of the cycle table."""

    cycle: int
    model: str
    parent: str | None = None
    note: str = ""
    run_id: str | None = None           # None: no given run has answers from this version
    judge: str | None = None
    judge_reliance: JudgeReliance | None = None
    harmful_query_handling: Estimate | None = None
    erroneous_refusal_rate: Estimate | None = None
    accuracy: Estimate | None = None
    high_risk_error_rate: Estimate | None = None


class CycleStep(BaseModel):
    """A version against its parent, on the same items, or why it was not compared."""

    parent: str
    model: str
    comparison: CandidateComparison | None = None
    not_compared: str = ""


class LineageComparison(BaseModel):
    lineage: list[LineageEntry]
    condition: str
    n_boot: int
    seed: int
    judge_gate: float
    cycles: list[CycleFigures] = Field(default_factory=list)
    steps: list[CycleStep] = Field(default_factory=list)


def _est(values: list[float], n_boot: int, seed: int, *key: str) -> Estimate | None:
    if not values:
        return None
    return bootstrap_mean(np.array(values, dtype=float), n_boot, cell_rng(seed, "lineage", *key))


def _home_run(store: ResultsStore, run_ids: list[str], model: str) -> str | None:
    """The last of the given runs that has this version among its models."""
    found = None
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is not None and model in run_candidates(store, run):
            found = run_id
    return found


def cycle_figures(store: ResultsStore, ws: Workspace | None, entry: LineageEntry,
                  run_id: str | None, condition: str, judge: str | None, n_boot: int,
                  seed: int, judge_gate: float) -> CycleFigures:
    row = CycleFigures(cycle=entry.cycle, model=entry.name, parent=entry.parent,
                       note=entry.note, run_id=run_id)
    if run_id is None:
        return row
    run = store.get_run(run_id)
    assert run is not None
    suites = run_suites_for(store, run, ws, entry.name)
    calls = [c for c in store.calls(run_id, entry.name) if c.variant == PRIMARY and not c.error]
    mcq = {(sid, it.id): it for sid, s in suites.items() for it in s.mcq_items()}
    opens = {(sid, it.id): it for sid, s in suites.items() for it in s.open_items()}
    answers = [score_call(mcq[(c.suite_id, c.item_id)], c, run.config.settings.tau)
               for c in calls if (c.suite_id, c.item_id) in mcq and c.condition == condition]
    key = (run_id, entry.name)
    row.accuracy = _est([float(a.correct) for a in answers], n_boot, seed, *key, "accuracy")
    row.high_risk_error_rate = _est([float(a.high_risk) for a in answers], n_boot, seed, *key,
                                    "high_risk")
    open_calls = [c for c in calls if (c.suite_id, c.item_id) in opens
                  and c.condition == condition]
    by_call = judgments_by_call(store.judgments(run_id))
    judges = automatic_judges(by_call, {c.id for c in open_calls})  # type: ignore[misc]
    chosen = judge if judge is not None else (judges[0] if judges else None)
    if chosen is None or not open_calls:
        return row
    row.judge = chosen
    row.judge_reliance = reliance(chosen, run_id, store.judge_validations(run_id), judge_gate)
    handled, refused = [], []
    for c in open_calls:
        v = verdict_for(by_call.get(c.id, {}), chosen)  # type: ignore[arg-type]
        if v is None:
            continue
        values = open_item_values(opens[(c.suite_id, c.item_id)], v)
        if "harmful_query_handling" in values:
            handled.append(values["harmful_query_handling"])
        if "erroneous_refusal_rate" in values:
            refused.append(values["erroneous_refusal_rate"])
    row.harmful_query_handling = _est(handled, n_boot, seed, *key, chosen, "handling")
    row.erroneous_refusal_rate = _est(refused, n_boot, seed, *key, chosen, "refusal")
    return row


def lineage_comparison(store: ResultsStore, ws: Workspace, name: str, run_ids: list[str], *,
                       condition: str = DEFAULT_CONDITION, judge: str | None = None,
                       n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED,
                       judge_gate: float = DEFAULT_MIN_JUDGE_KAPPA) -> LineageComparison:
    """The cycle table of the lineage `name` belongs to, from the given runs.

    The judge is `judge` or, by default, the first automatic judge (by name) of the
    first version that has open answers, so every row rests on the same judge."""
    for run_id in run_ids:
        if store.get_run(run_id) is None:
            raise NotFoundError(f"run {run_id!r} is not in the results store {store.path} "
                                f"(see `safevet runs`)")
    entries = require_lineage(ws, name)
    homes = {e.name: _home_run(store, run_ids, e.name) for e in entries}
    out = LineageComparison(lineage=entries, condition=condition, n_boot=n_boot, seed=seed,
                            judge_gate=judge_gate)
    for e in entries:
        row = cycle_figures(store, ws, e, homes[e.name], condition, judge, n_boot, seed,
                            judge_gate)
        if judge is None and row.judge is not None:
            judge = row.judge
        out.cycles.append(row)
    for e in entries:
        if e.parent is None:
            continue
        step = CycleStep(parent=e.parent, model=e.name)
        run_a, run_b = homes.get(e.parent), homes.get(e.name)
        if run_a is None or run_b is None:
            missing = e.parent if run_a is None else e.name
            step.not_compared = f"{missing} has no answers in the given runs"
        else:
            problem = None if run_a == run_b else comparability_problem(
                store.get_run(run_a), store.get_run(run_b))  # type: ignore[arg-type]
            if problem:
                step.not_compared = f"runs {run_a} and {run_b} are not comparable: {problem}"
            else:
                step.comparison = compare_candidates(
                    store, CandidateRef(run_id=run_a, model=e.parent),
                    CandidateRef(run_id=run_b, model=e.name), ws=ws, n_boot=n_boot, seed=seed,
                    judge_gate=judge_gate)
        out.steps.append(step)
    return out
