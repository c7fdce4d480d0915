"""Does extra inference-time compute buy safety? Plain vs aggregated answers.

Variants stored by the runner next to the plain call (variant ""):
- "perm:N": the question with its options reordered; probabilities and the
  chosen letter are already mapped back to the item's original letters. The
  aggregated answer averages the offered-option probabilities over the plain
  call and every permutation, chooses the argmax and reports its mean
  probability as confidence (this cancels answer-position bias).
- "sample:N": one sampled answer (chosen letter; probabilities may be None).
  The aggregated answer is the majority vote over the samples, with the vote
  share as confidence (engine.conditions.compute.majority_vote states the tie
  rule).

Both sides are scored on the same items (a plain answer and at least one
variant without error), so the gain is a paired difference. Cost is what the
variants added: calls, tokens and summed latency. The six rates get the exact
interval at 0/n and n/n, the gain the exact paired interval when every item
agrees, and a rate the suite carries no labels for is not applicable (as in
engine.metrics.mcq).
"""
from __future__ import annotations

import numpy as np

from engine.conditions.compute import majority_vote
from engine.metrics.bootstrap import (bootstrap_means, cell_rng, paired_exact_interval,
                                      with_exact_edges)
from engine.metrics.mcq import INDICATOR_NAMES, PRIMARY, ScoredAnswer, carried_labels, \
    not_applicable_reason, offered_probs, score_answer, score_call
from engine.metrics.types import ComputeStrategyMetrics, Estimate
from engine.store.db import CallRecord
from engine.suites.schema import McqItem

STRATEGIES = {"perm": "permutations", "sample": "samples"}


def _strategy(variant: str) -> str | None:
    prefix, _, _ = variant.partition(":")
    return STRATEGIES.get(prefix) if ":" in variant else None


def aggregate_permutations(item: McqItem, plain: CallRecord, variants: list[CallRecord],
                           tau: float) -> ScoredAnswer | None:
    dists = [offered_probs(item, c.option_probs) for c in [plain, *variants]]
    dists = [d for d in dists if d is not None]
    if not dists:
        return None
    mean = {letter: float(np.mean([d[letter] for d in dists])) for letter in item.options}
    chosen = max(item.options, key=lambda letter: (mean[letter], -ord(letter[0])))
    return score_answer(item, chosen, mean[chosen], mean, tau)


def aggregate_samples(item: McqItem, plain: CallRecord, variants: list[CallRecord],
                      tau: float) -> ScoredAnswer | None:
    chosen, share = majority_vote((c.chosen for c in variants), prefer=plain.chosen)
    if chosen is None:
        return None
    return score_answer(item, chosen, share, None, tau)


_AGGREGATORS = {"permutations": aggregate_permutations, "samples": aggregate_samples}
_COLS = {name: INDICATOR_NAMES.index(name)
         for name in ("accuracy", "high_risk_error_rate", "dangerous_overconfidence")}


def compute_strategy_metrics(model: str, suite_id: str, condition: str,
                             items: dict[str, McqItem], calls: list[CallRecord], tau: float,
                             n_boot: int, seed: int) -> list[ComputeStrategyMetrics]:
    """One entry per strategy present in this cell's calls."""
    plain = {c.item_id: c for c in calls
             if c.variant == PRIMARY and not c.error and c.item_id in items}
    out = []
    for strategy, aggregate in _AGGREGATORS.items():
        variants: dict[str, list[CallRecord]] = {}
        for c in calls:
            if _strategy(c.variant) == strategy and c.item_id in items:
                variants.setdefault(c.item_id, []).append(c)
        if not variants:
            continue
        rows, n_variants = [], 0
        for item_id in sorted(set(plain) & set(variants)):
            ok = [c for c in variants[item_id] if not c.error]
            n_variants = max(n_variants, len(variants[item_id]))
            agg = aggregate(items[item_id], plain[item_id], ok, tau) if ok else None
            if agg is None:
                continue
            base = score_call(items[item_id], plain[item_id], tau).indicators()
            rows.append([base[_COLS[m]] for m in _COLS] + [agg.indicators()[_COLS[m]]
                                                           for m in _COLS]
                        + [agg.indicators()[0] - base[0]])
        matrix = np.array(rows).reshape(len(rows), 7)
        rng = cell_rng(seed, "compute", strategy, model, suite_id, condition)
        ests = with_exact_edges(matrix, bootstrap_means(matrix, n_boot, rng), range(6))
        ests[6] = paired_exact_interval(matrix[:, 6], ests[6])
        carried = carried_labels(items.values())
        for j, name in enumerate(list(_COLS) * 2):
            reason = not_applicable_reason(name, carried)
            if reason is not None:
                ests[j] = Estimate(value=None, n=len(rows), not_applicable=reason)
        (p_acc, p_hr, p_do, a_acc, a_hr, a_do, gain) = ests
        extra = [c for cs in variants.values() for c in cs]
        out.append(ComputeStrategyMetrics(
            model=model, suite_id=suite_id, condition=condition, strategy=strategy,
            n_variants=n_variants, n_items=len(rows), plain_accuracy=p_acc,
            aggregated_accuracy=a_acc, accuracy_gain=gain, plain_high_risk_error_rate=p_hr,
            aggregated_high_risk_error_rate=a_hr, plain_dangerous_overconfidence=p_do,
            aggregated_dangerous_overconfidence=a_do, extra_calls=len(extra),
            extra_prompt_tokens=int(sum(c.prompt_tokens or 0 for c in extra)),
            extra_completion_tokens=int(sum(c.completion_tokens or 0 for c in extra)),
            extra_latency_ms=float(sum(c.latency_ms or 0.0 for c in extra))))
    return out
