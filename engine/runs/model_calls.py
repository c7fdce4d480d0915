"""One model's pending units of a run, turned into stored calls.

Scoring units (the plain MCQ call and its option permutations) go in batches
that keep an item's permutations together, so their shared prompt prefix is
computed once; sampled answers and open answers are generated one by one.
Each helper takes the run's `RunContext`; a failure on one unit is stored as
that unit's error row and the run goes on.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Iterable

from engine.conditions import PromptPlan, build_mcq_prompt, build_open_prompt, permute_options
from engine.events import CancelToken
from engine.judges.apply import judge_answer
from engine.runs.calls import (Stopwatch, base_record, choose, error_record, map_back,
                               parse_letter)
from engine.runs.plan import RunConfig, WorkUnit
from engine.runs.progress import ModelMeter, RunProgress
from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem, OpenItem

if TYPE_CHECKING:
    from engine.models.protocol import CandidateModel
    from engine.retrieval.corpus import Corpus
    from engine.runs.profiles import RunSettings

# A sampled answer is a letter: a few tokens are enough to read it.
SAMPLE_MAX_NEW_TOKENS = 4
SAMPLE_TOP_P = 0.95


@dataclass
class RunContext:
    """Everything a unit's call needs, for one model of one run."""

    store: ResultsStore
    run_id: str
    config: RunConfig
    model: CandidateModel
    corpus: Corpus | None    # the open corpus for the retrieval conditions
    meter: ModelMeter
    state: RunProgress
    cancel: CancelToken

    @property
    def settings(self) -> "RunSettings":
        return self.config.settings

    def store_call(self, rec: CallRecord, unit: WorkUnit) -> None:
        self.state.record(self.store, rec, unit)

    def store_error(self, unit: WorkUnit, exc: BaseException, prompt_text: str = "") -> None:
        self.store_call(error_record(self.run_id, unit, exc, prompt_text), unit)


def run_model_units(ctx: RunContext, units: list[WorkUnit]) -> None:
    """Scoring batches first, then generations; stops between calls when cancelled."""
    scoring = [u for u in units if isinstance(u.item, McqItem) and u.variant.kind != "sample"]
    scoring_keys = {u.key for u in scoring}
    other = [u for u in units if u.key not in scoring_keys]
    for batch in batches(scoring, ctx.settings.batch_size):
        if ctx.cancel.cancelled:
            return
        _score_batch(ctx, batch)
    for unit in other:
        if ctx.cancel.cancelled:
            return
        if isinstance(unit.item, McqItem):
            _sample_answer(ctx, unit)
        else:
            _open_answer(ctx, unit)


def batches(units: list[WorkUnit], size: int) -> Iterable[list[WorkUnit]]:
    """Consecutive units, `size` at a time; an item's variants (option permutations) get
    batches of their own, so the prompt they share up to the options (system prompt,
    evidence, question) is computed once and its KV cache reused by every permutation."""
    size = max(1, size)
    pending: list[WorkUnit] = []
    for _, group in groupby(units, key=lambda u: (u.suite.id, u.item.id, u.condition)):
        variants = list(group)
        if len(variants) == 1:
            pending += variants
            if len(pending) >= size:
                yield pending
                pending = []
            continue
        if pending:
            yield pending
            pending = []
        for i in range(0, len(variants), size):
            yield variants[i:i + size]
    if pending:
        yield pending


def _mcq_plan(ctx: RunContext, unit: WorkUnit) -> tuple[PromptPlan, dict[str, str] | None]:
    item = unit.item
    mapping = None
    if unit.variant.kind == "permutation":
        item, mapping = permute_options(item, unit.variant.index)
    return build_mcq_prompt(unit.condition, item, ctx.model, ctx.corpus, ctx.settings), mapping


def _aux_cost(plan: PromptPlan) -> tuple[int, int, float]:
    """Tokens and time of the calls a condition made to build the prompt (agentic search)."""
    aux = plan.aux_calls or []
    return (sum(int(a.get("prompt_tokens", 0) or 0) for a in aux),
            sum(int(a.get("completion_tokens", 0) or 0) for a in aux),
            sum(float(a.get("latency_ms", 0.0) or 0.0) for a in aux))


def _with_costs(rec: CallRecord, plan: PromptPlan, prompt_tokens: int, completion_tokens: int,
                latency_ms: float) -> CallRecord:
    aux_in, aux_out, aux_ms = _aux_cost(plan)
    rec.prompt_tokens = prompt_tokens + aux_in
    rec.completion_tokens = completion_tokens + aux_out
    rec.latency_ms = latency_ms + aux_ms
    return rec


@dataclass(frozen=True)
class _Planned:
    unit: WorkUnit
    plan: PromptPlan
    mapping: dict[str, str] | None


def _score_batch(ctx: RunContext, batch: list[WorkUnit]) -> None:
    planned = []
    for unit in batch:
        try:
            plan, mapping = _mcq_plan(ctx, unit)
            planned.append(_Planned(unit, plan, mapping))
        except Exception as exc:  # one bad item must not stop the run
            ctx.store_error(unit, exc)
    _score_planned(ctx, planned)


def _score_planned(ctx: RunContext, planned: list[_Planned]) -> None:
    if not planned:
        return
    try:
        with Stopwatch() as sw:
            scores = ctx.model.score_options([p.plan.prompt_text for p in planned],
                                             [p.plan.letters for p in planned])
    except Exception as exc:
        if len(planned) > 1:  # find the one bad prompt: the others must still be answered
            for one in planned:
                _score_planned(ctx, [one])
            return
        ctx.store_error(planned[0].unit, exc, planned[0].plan.prompt_text)
        return
    ctx.meter.scored += len(planned)
    ctx.meter.score_seconds += sw.ms / 1000.0
    for p, score in zip(planned, scores):
        rec = base_record(ctx.run_id, p.unit, p.plan.prompt_text, dict(p.plan.context))
        rec.option_probs = map_back(score.probs, p.mapping)
        rec.chosen, rec.confidence = choose(rec.option_probs)
        if p.mapping:
            rec.context["permutation"] = p.mapping
        _with_costs(rec, p.plan, score.prompt_tokens, 0, score.latency_ms)
        ctx.meter.prompt_tokens += rec.prompt_tokens
        ctx.store_call(rec, p.unit)


def _sample_answer(ctx: RunContext, unit: WorkUnit) -> None:
    from engine.models.generation import GenerationSettings

    seed = unit.variant.index
    try:
        plan, _ = _mcq_plan(ctx, unit)
        gen = ctx.model.generate(plan.prompt_text, GenerationSettings(
            max_new_tokens=SAMPLE_MAX_NEW_TOKENS, temperature=ctx.settings.sample_temperature,
            top_p=SAMPLE_TOP_P, seed=seed))
    except Exception as exc:
        ctx.store_error(unit, exc)
        return
    rec = base_record(ctx.run_id, unit, plan.prompt_text, dict(plan.context))
    rec.output_text = gen.text
    rec.chosen = parse_letter(gen.text, plan.letters)
    rec.context["sample_seed"] = seed
    _with_costs(rec, plan, gen.prompt_tokens, gen.completion_tokens, gen.latency_ms)
    ctx.meter.add_generation(gen.completion_tokens, gen.latency_ms)
    ctx.store_call(rec, unit)


def _open_answer(ctx: RunContext, unit: WorkUnit) -> None:
    from engine.models.generation import GenerationSettings

    item: OpenItem = unit.item  # type: ignore[assignment]
    try:
        plan = build_open_prompt(unit.condition, item, ctx.model, ctx.corpus, ctx.settings)
        gen = ctx.model.generate(plan.prompt_text, GenerationSettings(
            max_new_tokens=ctx.settings.open_max_new_tokens, temperature=0.0))
    except Exception as exc:
        ctx.store_error(unit, exc)
        return
    rec = base_record(ctx.run_id, unit, plan.prompt_text, dict(plan.context))
    rec.output_text = gen.text
    _with_costs(rec, plan, gen.prompt_tokens, gen.completion_tokens, gen.latency_ms)
    rec.context["finish_reason"] = gen.finish_reason
    ctx.meter.add_generation(gen.completion_tokens, gen.latency_ms)
    ctx.store_call(rec, unit)
    judge_answer(ctx.store, rec.id, item, gen.text)  # type: ignore[arg-type]
