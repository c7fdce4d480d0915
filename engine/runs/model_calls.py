"""One model's pending units of a run, turned into stored calls.

Scoring units (the plain MCQ call and its option permutations) go in batches
that keep an item's permutations together, so their shared prompt prefix is
computed once. Generation is batched too (`CandidateModel.generate_batch`):
open answers of one condition `generation_batch_size` at a time, an item's k
samples as one batch, and agentic RAG's searches step-synchronously for the
units of a batch (every item's step-1 query in one batch, their searches, then
step 2 for the items still searching).

The unit of work in flight is the batch: its calls are stored when the batch
ends, one by one, each with its own row, so a crash loses at most the calls of
the batch in flight and resume runs exactly those again. Each helper takes the
run's `RunContext`; a failure on one unit is stored as that unit's error row
(a failing batch is retried one unit at a time to find it) and the run goes on.

Where a finished call goes is the context's `CallSink`: the local executor's
`StoreSink` writes it to the results store (and judges an open answer) at once;
a Ray replica collects a work package's calls and returns them to the driver, which
puts them through the same `StoreSink`, so there is one writer either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Iterable, Literal, Protocol

from engine.conditions import registry
from engine.conditions import (PromptPlan, SearchOutcome, build_mcq_prompt, build_open_prompt,
                               permute_options, search_many, searches_with_model)
from engine.events import CancelToken
from engine.judges.apply import judge_answer
from engine.models.generation import Generation, GenerationSettings
from engine.runs.calls import (Stopwatch, base_record, choose, error_record, map_back,
                               parse_letter)
from engine.runs.plan import RunConfig, WorkUnit
from engine.runs.progress import ModelMeter, RunProgress
from engine.runs.records import GenerationKind
from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem, OpenItem

if TYPE_CHECKING:
    from engine.models.protocol import CandidateModel
    from engine.retrieval.corpus import Corpus
    from engine.runs.profiles import RunSettings

# A sampled answer is a letter: a few tokens are enough to read it.
SAMPLE_MAX_NEW_TOKENS = 4
SAMPLE_TOP_P = 0.95


class CallSink(Protocol):
    """Where a finished call goes (the store on the driver, a list on a Ray replica)."""

    def put(self, rec: CallRecord, unit: WorkUnit) -> None: ...


@dataclass
class StoreSink:
    """The one writer of a run: stores each call as it arrives, counts it for progress, and
    has the always-on judge score an open answer beside it."""

    store: ResultsStore
    state: RunProgress

    def put(self, rec: CallRecord, unit: WorkUnit) -> None:
        self.state.record(self.store, rec, unit)
        if rec.kind == "open" and rec.error is None and rec.output_text is not None:
            judge_answer(self.store, rec.id, unit.item, rec.output_text)  # type: ignore[arg-type]


@dataclass
class CollectSink:
    """A package's calls in the order they finished, for a replica to hand back unstored."""

    calls: list[tuple[WorkUnit, CallRecord]] = field(default_factory=list)

    def put(self, rec: CallRecord, unit: WorkUnit) -> None:
        self.calls.append((unit, rec))


@dataclass
class RunContext:
    """Everything a unit's call needs, for one model of one run."""

    sink: CallSink
    run_id: str
    config: RunConfig
    model: CandidateModel
    corpus: Corpus | None    # the open corpus for the retrieval conditions
    meter: ModelMeter
    cancel: CancelToken

    @property
    def settings(self) -> "RunSettings":
        return self.config.settings

    def store_call(self, rec: CallRecord, unit: WorkUnit) -> None:
        self.sink.put(rec, unit)

    def store_error(self, unit: WorkUnit, exc: BaseException, prompt_text: str = "") -> None:
        self.store_call(error_record(self.run_id, unit, exc, prompt_text), unit)


BatchKind = Literal["score", "sample", "open"]


@dataclass(frozen=True)
class WorkBatch:
    """The unit of work in flight: calls decoded or scored together (one forward pass or
    one generation batch); what the local loop runs in turn and a Ray replica runs whole."""

    kind: BatchKind
    units: list[WorkUnit]


def work_batches(units: list[WorkUnit], settings: "RunSettings") -> Iterable[WorkBatch]:
    """One model's pending units as batches, in the order the local loop runs them:
    scoring batches first (an item's permutations together), then generations."""
    scoring = [u for u in units if isinstance(u.item, McqItem) and u.variant.kind != "sample"]
    scoring_keys = {u.key for u in scoring}
    other = [u for u in units if u.key not in scoring_keys]
    for batch in batches(beside_extended_prompts(scoring), settings.batch_size):
        yield WorkBatch("score", batch)
    for batch in generation_batches(other, settings.generation_batch_size):
        yield WorkBatch("sample" if isinstance(batch[0].item, McqItem) else "open", batch)


def run_batch(ctx: RunContext, batch: WorkBatch) -> None:
    """Make every call of one batch, each finished call going to the context's sink."""
    if batch.kind == "score":
        _score_batch(ctx, batch.units)
    elif batch.kind == "sample":
        _sample_answers(ctx, batch.units)
    else:
        _open_answers(ctx, batch.units)


@dataclass(frozen=True)
class WorkPackage:
    """Consecutive batches (about `package_calls` calls) run in order from a fresh prefix
    cache: the unit a Ray replica is handed, and the same boundaries in the local loop, so
    a package's results are the same to the bit wherever it runs."""

    batches: list[WorkBatch]

    @property
    def units(self) -> list[WorkUnit]:
        return [u for b in self.batches for u in b.units]


def work_packages(units: list[WorkUnit], settings: "RunSettings") -> list[WorkPackage]:
    """The model's batches cut into packages; a package never splits a batch."""
    packages: list[WorkPackage] = []
    current: list[WorkBatch] = []
    size = 0
    for batch in work_batches(units, settings):
        if current and size + len(batch.units) > settings.package_calls:
            packages.append(WorkPackage(current))
            current, size = [], 0
        current.append(batch)
        size += len(batch.units)
    if current:
        packages.append(WorkPackage(current))
    return packages


def start_package(model: "CandidateModel") -> None:
    """A package starts from no cached prefix (a model without such a cache has nothing to
    drop)."""
    forget = getattr(model, "forget_prefix_cache", None)
    if forget is not None:
        forget()


def run_package(ctx: RunContext, package: WorkPackage) -> None:
    """Every batch of a package, in order; stops between batches when cancelled."""
    start_package(ctx.model)
    for batch in package.batches:
        if ctx.cancel.cancelled:
            return
        run_batch(ctx, batch)


def run_model_units(ctx: RunContext, units: list[WorkUnit]) -> None:
    """Scoring batches first, then generations, package by package; stops between
    batches when cancelled."""
    for package in work_packages(units, ctx.settings):
        if ctx.cancel.cancelled:
            return
        run_package(ctx, package)


def beside_extended_prompts(units: list[WorkUnit]) -> list[WorkUnit]:
    """`units` in order, but each unit of a condition whose prompt extends another's
    (registry `extends_prompt_of`: max_context over standard_rag) moved to just after its
    partner unit (same suite, item and variant), so both land in one scoring batch and
    the model computes their long shared head once. Units without a pending partner keep
    their place."""
    partner_of = {c.name: c.extends_prompt_of for c in registry.REGISTRY
                  if c.extends_prompt_of}

    def key(u: WorkUnit, condition: str) -> tuple[str, str, str, str]:
        return (u.suite.id, u.item.id, condition, str(u.variant))

    pending = {key(u, u.condition) for u in units}
    followers: dict[tuple[str, str, str, str], WorkUnit] = {}
    for u in units:
        base = partner_of.get(u.condition)
        if base is not None and key(u, base) in pending:
            followers[key(u, base)] = u
    moved = {id(u) for u in followers.values()}
    out: list[WorkUnit] = []
    for u in units:
        if id(u) in moved:
            continue
        out.append(u)
        follower = followers.get(key(u, u.condition))
        if follower is not None:
            out.append(follower)
    return out


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


def generation_batches(units: list[WorkUnit], size: int) -> Iterable[list[WorkUnit]]:
    """Consecutive generation units, one kind and condition per batch: an item's samples
    (same prompt, one seed each) together, open items of a condition `size` at a time."""
    size = max(1, size)

    def kind(u: WorkUnit) -> tuple[str, ...]:
        if isinstance(u.item, McqItem):
            return ("samples", u.suite.id, u.item.id, u.condition)
        return ("open", u.condition)

    for _, group in groupby(units, key=kind):
        same = list(group)
        for i in range(0, len(same), size):
            yield same[i:i + size]


def _mcq_item(unit: WorkUnit) -> tuple[McqItem, dict[str, str] | None]:
    """The item as this unit asks it: its options permuted for a permutation unit."""
    item: McqItem = unit.item  # type: ignore[assignment]
    if unit.variant.kind == "permutation":
        return permute_options(item, unit.variant.index)
    return item, None


def _searches(ctx: RunContext, units: list[WorkUnit], items: list[McqItem | OpenItem]
              ) -> list[SearchOutcome | None]:
    """Each unit's model-driven search (agentic RAG), run for the whole batch at once; None
    where the condition does not search, or where the batch failed (each such unit then
    searches alone, so the one that fails stores its own error)."""
    found: list[SearchOutcome | None] = [None] * len(units)
    by_condition: dict[str, list[int]] = {}
    for i, (u, item) in enumerate(zip(units, items)):
        if searches_with_model(u.condition, item, ctx.settings):
            by_condition.setdefault(u.condition, []).append(i)
    for condition, rows in by_condition.items():
        try:
            outcomes = search_many(condition, [items[i] for i in rows], ctx.model, ctx.corpus,
                                   ctx.settings)
        except Exception:  # noqa: BLE001  found again unit by unit, errors stored there
            continue
        for i, outcome in zip(rows, outcomes):
            found[i] = outcome
            for turn in outcome.aux_calls:   # search turns are generation time too
                ctx.meter.add_generation("search", int(turn["completion_tokens"]),
                                         float(turn["latency_ms"]))
    return found


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
    asked = [_mcq_item(u) for u in batch]
    found = _searches(ctx, batch, [item for item, _ in asked])
    planned = []
    for unit, (item, mapping), f in zip(batch, asked, found):
        try:
            plan = build_mcq_prompt(unit.condition, item, ctx.model, ctx.corpus, ctx.settings,
                                    found=f)
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


def _generate_planned(ctx: RunContext, planned: list[_Planned],
                      settings: list[GenerationSettings]) -> list[tuple[_Planned, Generation]]:
    """Generations for `planned` in one batch; a failing batch is retried one by one so
    that only the unit that fails stores an error."""
    if not planned:
        return []
    try:
        gens = ctx.model.generate_batch([p.plan.prompt_text for p in planned], settings)
    except Exception as exc:
        if len(planned) > 1:
            return [done for p, s in zip(planned, settings)
                    for done in _generate_planned(ctx, [p], [s])]
        ctx.store_error(planned[0].unit, exc, planned[0].plan.prompt_text)
        return []
    return list(zip(planned, gens))


def _generated_record(ctx: RunContext, p: _Planned, gen: Generation,
                      kind: GenerationKind) -> CallRecord:
    rec = base_record(ctx.run_id, p.unit, p.plan.prompt_text, dict(p.plan.context))
    rec.output_text = gen.text
    _with_costs(rec, p.plan, gen.prompt_tokens, gen.completion_tokens, gen.latency_ms)
    ctx.meter.add_generation(kind, gen.completion_tokens, gen.latency_ms)
    return rec


def _sample_answers(ctx: RunContext, batch: list[WorkUnit]) -> None:
    """An item's k samples: one prompt, built once, decoded as one batch of k seeds."""
    try:
        item, _ = _mcq_item(batch[0])
        plan = build_mcq_prompt(batch[0].condition, item, ctx.model, ctx.corpus, ctx.settings)
    except Exception as exc:
        for unit in batch:
            ctx.store_error(unit, exc)
        return
    settings = [GenerationSettings(max_new_tokens=SAMPLE_MAX_NEW_TOKENS,
                                   temperature=ctx.settings.sample_temperature,
                                   top_p=SAMPLE_TOP_P, seed=u.variant.index) for u in batch]
    for p, gen in _generate_planned(ctx, [_Planned(u, plan, None) for u in batch], settings):
        rec = _generated_record(ctx, p, gen, "sample")
        rec.chosen = parse_letter(gen.text, plan.letters)
        rec.context["sample_seed"] = p.unit.variant.index
        ctx.store_call(rec, p.unit)


def _open_answers(ctx: RunContext, batch: list[WorkUnit]) -> None:
    items: list[OpenItem] = [u.item for u in batch]  # type: ignore[misc]
    found = _searches(ctx, batch, list(items))
    planned = []
    for unit, item, f in zip(batch, items, found):
        try:
            planned.append(_Planned(unit, build_open_prompt(unit.condition, item, ctx.model,
                                                            ctx.corpus, ctx.settings, found=f),
                                    None))
        except Exception as exc:
            ctx.store_error(unit, exc)
    greedy = GenerationSettings(max_new_tokens=ctx.settings.open_max_new_tokens,
                                temperature=0.0)
    for p, gen in _generate_planned(ctx, planned, [greedy] * len(planned)):
        rec = _generated_record(ctx, p, gen, "open")
        rec.context["finish_reason"] = gen.finish_reason
        ctx.store_call(rec, p.unit)   # the sink judges it once stored
