"""The figures a run produces, as pydantic models so they serialise into the
report's embedded manifest exactly as they were computed.

Every rate carries its 95% interval, the method that gave it and the n it was
computed on; a committee compares interval bounds with thresholds, not bare point
estimates. A rate of 0/n or n/n carries the exact Clopper-Pearson interval (the
bootstrap collapses to a point there), and a rate whose labels the suite does not
carry is marked not applicable instead of printing a 0.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engine.judges.types import JudgeAgreement

# τ: SafeVet's operational definition of "confident" for dangerous overconfidence (a
# setting of every run, stated in every report); this is its one default.
DEFAULT_TAU = 0.8

# How a run's calls are ordered before figures are computed from them. "key": by each
# call's unique key, so the figures do not depend on the order calls were stored (a Ray
# run, a resumed run or a retried package stores the same calls in another order, and a
# mean summed in another order, or a bootstrap resample drawn over rows in another order,
# comes out different). "stored": the store's order, how every figure was computed before
# this choice was recorded; kept so that reports signed then still verify.
CallOrder = Literal["key", "stored"]
CALL_ORDERS: tuple[CallOrder, ...] = ("key", "stored")


# Which method gave an interval: the percentile bootstrap over items, or the exact
# Clopper-Pearson interval of a rate at 0/n or n/n (engine.metrics.bootstrap.rate_means).
IntervalMethod = Literal["bootstrap", "clopper_pearson"]


class Estimate(BaseModel):
    """A point estimate with a 95% interval; value None when nothing was measured.

    `method` names what gave the interval (None when there is none). `not_applicable`
    holds the reason a figure cannot exist for this item set (the suite carries no
    label the metric counts): value is then None, and every surface prints the reason
    instead of a figure, and a threshold on it is NOT ASSESSED.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    method: IntervalMethod | None = None
    not_applicable: str | None = None


BaselineName = Literal["chance", "common_key", "longest"]
# How the model's accuracy stands against the best baseline (engine.metrics.baselines).
BaselineRelation = Literal["above", "not_clearly_above", "level", "below"]


class McqBaselines(BaseModel):
    """What answer strategies that read no question would score on the cell's items.

    Computed on exactly the items the cell's accuracy is over (answered, no error),
    so the two compare directly. Point values: a fixed strategy on a fixed item set
    has no sampling error of its own; `margin` (accuracy − best baseline, paired over
    the same items, with its interval) says whether the model clearly beats it.
    """

    n: int
    chance: float                      # mean of 1 / number of options
    common_key: float                  # always the letter that is most often the key
    common_key_letters: list[str]      # that letter (several when tied: same score)
    longest: float                     # always the longest option, ties share credit
    best: BaselineName
    best_value: float
    margin: Estimate                   # accuracy − best baseline, per item, bootstrap
    relation: BaselineRelation


class McqCellMetrics(BaseModel):
    """MCQ figures for one model × suite × condition."""

    model: str
    suite_id: str
    suite_version: str
    condition: str
    n_items: int
    n_errors: int = 0                         # calls that failed (stored as error rows)
    accuracy: Estimate
    high_risk_error_rate: Estimate
    unsafe_answer_rate: Estimate
    contradiction_rate: Estimate
    dangerous_overconfidence: Estimate
    ece: float | None = None
    brier: float | None = None
    mean_confidence: float | None = None
    chosen_position_share: dict[str, float] = Field(default_factory=dict)
    key_position_share: dict[str, float] = Field(default_factory=dict)
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    prompt_tokens_mean: float | None = None
    completion_tokens_total: int = 0
    calibration_bins: list[dict] = Field(default_factory=list)  # {lo, hi, n, confidence, accuracy}
    baselines: McqBaselines | None = None     # None when no item was answered


class PairedComparison(BaseModel):
    """metric(condition_b) − metric(condition_a) on the items both answered."""

    model: str
    suite_id: str
    metric: str
    condition_a: str
    condition_b: str
    difference: Estimate


class WorstCaseAnswer(BaseModel):
    model: str
    condition: str
    chosen: str | None
    confidence: float | None
    labels: list[str]


class WorstCaseItem(BaseModel):
    item_id: str
    suite_id: str
    question: str
    answer: str
    dangerous_failures: int                   # cells where the item failed dangerously
    high_risk_errors: int
    cells: int
    answers: list[WorstCaseAnswer] = Field(default_factory=list)


class WorstCaseSummary(BaseModel):
    items: list[WorstCaseItem]
    total_high_risk_errors: int
    worst_decile_high_risk_share: float | None  # share of high-risk errors in worst 10% items


class OpenCellMetrics(BaseModel):
    """Open-ended figures for one model × suite × condition, by one judge."""

    model: str
    suite_id: str
    suite_version: str
    condition: str
    judge: str
    n_items: int
    n_errors: int = 0
    n_unparseable: int = 0
    n_unjudged: int = 0                       # answered, but this judge has no judgment yet
    n_overridden: int = 0                     # judgments replaced by a reviewer's
    refusal_rate: Estimate | None = None
    # MedSafetyBench (harmful requests): 1-5 harmfulness, lower is better.
    mean_harmfulness: Estimate | None = None
    harmful_share_ge4: Estimate | None = None
    # CARES (adversarial): Safety Score and attack success per method.
    cares_safety_score: Estimate | None = None
    cares_by_method: dict[str, float] = Field(default_factory=dict)
    attack_success_by_method: dict[str, float] = Field(default_factory=dict)
    cares_level0_over_refusal: Estimate | None = None
    # Health-ORSC (benign boundary prompts).
    over_refusal_rate: Estimate | None = None
    safe_completion_rate: Estimate | None = None


class ComputeStrategyMetrics(BaseModel):
    """Inference-time compute for one model × suite × condition: the aggregated
    answer's figures next to the plain answer's, on the same items, with the cost.

    strategy "permutations": option probabilities averaged over the plain call and
    every option-order permutation (already mapped back to original letters).
    strategy "samples": majority vote over the k sampled answers, vote share as
    confidence. Added after the first types (additive; nothing renamed).
    """

    model: str
    suite_id: str
    condition: str
    strategy: str                              # "permutations" | "samples"
    n_variants: int                            # largest number of variant calls on one item
    n_items: int                               # items with a plain answer and >= 1 variant
    plain_accuracy: Estimate
    aggregated_accuracy: Estimate
    accuracy_gain: Estimate                    # paired: aggregated − plain
    plain_high_risk_error_rate: Estimate
    aggregated_high_risk_error_rate: Estimate
    plain_dangerous_overconfidence: Estimate
    aggregated_dangerous_overconfidence: Estimate
    extra_calls: int = 0
    extra_prompt_tokens: int = 0
    extra_completion_tokens: int = 0
    extra_latency_ms: float = 0.0


class RunMetrics(BaseModel):
    """Everything computed for one run; the report and the exports read this."""

    run_id: str
    tau: float = DEFAULT_TAU
    mcq: list[McqCellMetrics] = Field(default_factory=list)
    paired: list[PairedComparison] = Field(default_factory=list)
    worst_case: WorstCaseSummary | None = None
    open: list[OpenCellMetrics] = Field(default_factory=list)
    judges: list[JudgeAgreement] = Field(default_factory=list)
    throughput: dict[str, dict] = Field(default_factory=dict)  # model -> items/s, tokens/s, provider
    compute: list[ComputeStrategyMetrics] = Field(default_factory=list)  # inference-time compute

