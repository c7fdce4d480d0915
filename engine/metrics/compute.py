"""compute_run_metrics: every figure of a run, recomputed from the stored calls.

The report, the exports and the GUI all read the RunMetrics this returns, and
nothing here keeps state: the same store, suites and seed give the same
figures, intervals included, which is what lets anyone re-derive a signed
report from the raw rows.

Calls whose suite or item is not in `suites` are ignored (a suite must be
loaded to know the key and the option labels); cells are keyed by the suite
version stored on the call.

Paired comparisons come from engine.metrics.paired; here each is finished the
way every other rate is: where every common item agrees the difference gets the
exact paired interval (the bootstrap's is a point), and a difference of a rate
the suite carries no labels for is not applicable.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.metrics.bootstrap import paired_exact_interval
from engine.metrics.inference_compute import compute_strategy_metrics
from engine.metrics.mcq import (INDICATOR_NAMES, PRIMARY, ScoredAnswer, carried_labels,
                                cell_metrics, not_applicable_reason, score_call)
from engine.metrics.open_ended import open_metrics
from engine.metrics.paired import paired_comparisons
from engine.metrics.types import (DEFAULT_TAU, CallOrder, Estimate, PairedComparison,
                                  RunMetrics)
from engine.metrics.worst_case import CellAnswers, worst_case
from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem, Suite


def compute_run_metrics(store: ResultsStore, run_id: str, suites: dict[str, Suite],
                        tau: float = DEFAULT_TAU, n_boot: int = 2000, seed: int = 0,
                        models: list[str] | None = None,
                        call_order: CallOrder = "key") -> RunMetrics:
    """All figures for one run (optionally only some models).

    Retired items are left out: a reviewer retired them because their labels cannot be
    trusted, so stored answers to them must not count for or against a model.
    """
    calls = [c for c in store.calls(run_id) if models is None or c.model in models]
    if call_order == "key":
        calls.sort(key=lambda c: c.key)
    mcq_items = {sid: {it.id: it for it in s.active_items() if isinstance(it, McqItem)}
                 for sid, s in suites.items()}
    mcq_calls: dict[tuple[str, str, str, str], list[CallRecord]] = defaultdict(list)
    for c in calls:
        if c.item_id in mcq_items.get(c.suite_id, {}):
            mcq_calls[(c.model, c.suite_id, c.suite_version, c.condition)].append(c)

    result = RunMetrics(run_id=run_id, tau=tau)
    answers: dict[tuple[str, str], dict[str, dict[str, ScoredAnswer]]] = defaultdict(dict)
    worst: CellAnswers = defaultdict(list)
    for (model, suite_id, version, condition), cell_calls in sorted(mcq_calls.items()):
        items = mcq_items[suite_id]
        result.mcq.append(cell_metrics(model, suite_id, version, condition, items, cell_calls,
                                       tau, n_boot, seed))
        result.compute.extend(compute_strategy_metrics(model, suite_id, condition, items,
                                                       cell_calls, tau, n_boot, seed))
        scored = {c.item_id: score_call(items[c.item_id], c, tau)
                  for c in cell_calls if c.variant == PRIMARY and not c.error}
        answers[(model, suite_id)].setdefault(condition, {}).update(scored)
        for item_id, a in scored.items():
            worst[(suite_id, item_id)].append((model, condition, a))
    for (model, suite_id), by_condition in sorted(answers.items()):
        carried = carried_labels(mcq_items[suite_id].values())
        result.paired.extend(finish_paired(p, by_condition, carried) for p in
                             paired_comparisons(model, suite_id, by_condition, n_boot, seed))
    if worst:
        result.worst_case = worst_case(
            worst, {(sid, iid): mcq_items[sid][iid] for sid, iid in worst})

    result.open = open_metrics(calls, store.judgments(run_id), suites, n_boot, seed)
    result.judges = store.judge_validations(run_id)
    result.throughput = throughput(calls)
    return result


def finish_paired(p: PairedComparison, by_condition: dict[str, dict[str, ScoredAnswer]],
                  carried: frozenset[str]) -> PairedComparison:
    """`p` not applicable where its rate is, or with the exact interval where every
    item common to both conditions agrees (see the module docstring)."""
    reason = not_applicable_reason(p.metric, carried)
    if reason is not None:
        return p.model_copy(update={"difference": Estimate(
            value=None, n=p.difference.n, not_applicable=reason)})
    a, b = by_condition[p.condition_a], by_condition[p.condition_b]
    col = INDICATOR_NAMES.index(p.metric)
    diffs = np.array([b[i].indicators()[col] - a[i].indicators()[col]
                      for i in sorted(set(a) & set(b))])
    return p.model_copy(update={"difference": paired_exact_interval(diffs, p.difference)})


def throughput(calls: list[CallRecord]) -> dict[str, dict]:
    """Per model: calls, summed model time, calls/s and generated tokens/s of model time."""
    out: dict[str, dict] = {}
    for model in sorted({c.model for c in calls}):
        ok = [c for c in calls if c.model == model and not c.error]
        seconds = sum(c.latency_ms or 0.0 for c in ok) / 1000.0
        tokens = sum(c.completion_tokens or 0 for c in ok)
        out[model] = {"calls": len(ok), "errors": sum(1 for c in calls
                                                      if c.model == model and c.error),
                      "model_seconds": seconds,
                      "items_per_s": len(ok) / seconds if seconds > 0 else None,
                      "tokens_per_s": tokens / seconds if seconds > 0 else None}
    return out
