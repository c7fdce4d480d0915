"""Run execution: the loop that turns a planned run into stored calls.

Every call is committed to the store the moment it completes, and a unit whose
key is already stored is skipped, so the same function starts a run and
resumes one after Ctrl-C or `kill -9`. A failure on one item is stored as an
error row and the run goes on.
"""
from __future__ import annotations

import getpass
import secrets
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import groupby
from typing import Iterable

from engine.environment_info import host_info, package_versions
from engine.errors import DiskFullError, NotFoundError, SafeVetError
from engine.failures import is_disk_full
from engine.events import CancelToken, ProgressCallback, emit
from engine.runs.calls import (Stopwatch, base_record, choose, error_record, map_back,
                               parse_letter)
from engine.runs.plan import (RETRIEVAL_CONDITIONS, RunConfig, SuiteRef, WorkUnit,
                              parse_conditions, plan_units)
from engine.runs.profiles import RunSettings, get_profile
from engine.store.db import CallRecord, ResultsStore
from engine.suites.io import load_suite
from engine.suites.registry import resolve_suite
from engine.suites.schema import McqItem, OpenItem, Suite
from engine.workspace import ASSETS_DIR, Workspace

JUDGE_VALIDATION_FILE = ASSETS_DIR / "judge_validation" / "labelled_responses.jsonl"
# A run whose stored calls are more than this share errors ends `failed`, not `completed`.
MAX_ERROR_SHARE = 0.5


@dataclass
class RunOutcome:
    run_id: str
    status: str
    done: int
    total: int
    errors: int
    skipped: int
    seconds: float
    throughput: dict[str, dict] = field(default_factory=dict)
    failure: str | None = None     # why a run is `failed` (too many calls errored)


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def create_run(ws: Workspace, store: ResultsStore, *, models: list[str], suites: list[str],
               conditions: str | list[str] = "all", profile: str = "demo",
               corpus: str | None = None, operator: str | None = None,
               overrides: dict | None = None) -> str:
    """Resolve everything a run names, check it exists, and store the plan."""
    from engine.models.registry import get_manifest

    if not models:
        raise SafeVetError("no models given (--models A,B)")
    if not suites:
        raise SafeVetError("no suites given (--suites S1,S2)")
    prof = get_profile(profile)
    settings = prof.settings.model_copy(update=overrides or {})
    RunSettings.model_validate(settings.model_dump())
    condition_list = parse_conditions(conditions)
    for name in models:
        get_manifest(ws, name)  # raises NotFoundError naming the model
    resolved = [resolve_suite(ws, ref) for ref in suites]
    if corpus is None and any(c in RETRIEVAL_CONDITIONS for c in condition_list):
        raise SafeVetError(f"conditions {', '.join(c for c in condition_list if c in RETRIEVAL_CONDITIONS)} "
                           f"need a corpus (--corpus NAME; `safevet corpus list` shows them)")
    if corpus is not None:
        from engine.retrieval.corpus import open_corpus
        with open_corpus(ws, corpus):  # raises if missing; released at once
            pass
    config = RunConfig(
        models=models, conditions=condition_list, profile=prof.name,
        profile_description=prof.description, settings=settings, corpus=corpus,
        suites=[SuiteRef(id=s.id, version=s.version, sha256=s.manifest.items_sha256,
                         path=str(s.path), demonstration=s.manifest.demonstration,
                         item_count=len(s.active_items())) for s in resolved])
    run_id = new_run_id()
    environment = {"host": host_info(), "software": package_versions(), "models": {}}
    store.create_run(run_id, profile=prof.name, operator=operator or getpass.getuser(),
                     config=config.model_dump(mode="json"), environment=environment)
    store.append_audit(operator or getpass.getuser(), "run.create",
                       {"run_id": run_id, "models": models,
                        "suites": [f"{s.id}@{s.version}" for s in resolved]})
    return run_id


def load_config(store: ResultsStore, run_id: str) -> tuple[dict, RunConfig]:
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found in {store.path}")
    return run, RunConfig.model_validate(run["config"])


def load_run_suites(config: RunConfig) -> list[Suite]:
    """The exact suite versions the run was planned with; a changed file is refused."""
    suites = []
    for ref in config.suites:
        suite = load_suite(ref.path)
        if suite.manifest.items_sha256 != ref.sha256:
            raise SafeVetError(f"suite {ref.id} at {ref.path} has changed since the run was "
                               f"planned (sha256 {suite.manifest.items_sha256[:12]}… vs "
                               f"{ref.sha256[:12]}…); it cannot be resumed against other items")
        suites.append(suite)
    return suites


def execute_run(ws: Workspace, store: ResultsStore, run_id: str,
                progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> RunOutcome:
    """Execute (or resume) a stored run until done or cancelled.

    One process executes a run at a time (a lock file under the workspace): a CLI
    resume and a desktop resume of the same run would otherwise race on its calls.
    """
    from engine.retrieval.lock import StoreLock

    with StoreLock(ws.home / "runs" / run_id, f"run {run_id}"):
        return _execute_locked(ws, store, run_id, progress, cancel)


def _execute_locked(ws: Workspace, store: ResultsStore, run_id: str,
                    progress: ProgressCallback | None,
                    cancel: CancelToken | None) -> RunOutcome:
    from engine.models.registry import load_model

    run, config = load_config(store, run_id)
    suites = load_run_suites(config)
    cancel = cancel or CancelToken()
    done_keys = store.done_keys(run_id)
    units_by_model = {m: plan_units(config, suites, m) for m in config.models}
    total = sum(len(u) for u in units_by_model.values())
    skipped = sum(1 for us in units_by_model.values() for u in us if u.key in done_keys)
    state = _Progress(total=total, done=skipped, progress=progress, run_id=run_id,
                      tau=config.settings.tau)
    corpus = None
    environment = run["environment"] or {}
    throughput = dict((run.get("summary") or {}).get("throughput", {}))
    started = time.perf_counter()
    status = "completed"
    try:
        store.set_run_status(run_id, "running")
        _record_judge_validation(store, run_id, suites)
        emit(progress, "run", f"run {run_id}: {total} calls, {skipped} already stored",
             done=skipped, total=total, run_id=run_id)
        if config.corpus and any(c in RETRIEVAL_CONDITIONS for c in config.conditions):
            from engine.retrieval.corpus import open_corpus
            corpus = open_corpus(ws, config.corpus)
        for model_name in config.models:
            pending = [u for u in units_by_model[model_name] if u.key not in done_keys]
            if not pending:
                continue
            if cancel.cancelled:
                status = "interrupted"
                break
            emit(progress, "model", f"loading {model_name}", model=model_name)
            model = load_model(ws, model_name)
            environment.setdefault("models", {})[model_name] = {
                "execution_provider": model.execution_provider,
                "provider_notice": model.provider_notice,
                "session": getattr(model, "session_info", {}),
            }
            store.update_run(run_id, environment=environment)
            meter = _ModelMeter()
            _run_model_units(store, run_id, config, model, corpus, pending, state, cancel, meter)
            throughput[model_name] = meter.summary(model.execution_provider)
            store.update_run(run_id, summary={"throughput": throughput})
            if cancel.cancelled:
                status = "interrupted"
                break
    except BaseException as exc:
        _mark_interrupted(store, run_id)
        if is_disk_full(exc):
            raise DiskFullError(
                f"disk full while storing run {run_id} in {store.path} ({state.new_calls} "
                f"calls stored before it); free space, then continue with "
                f"`safevet run --resume {run_id}`") from exc
        raise
    finally:
        if corpus is not None:
            corpus.close()  # the store lock is released for the next process at once
    failure = None
    if status == "completed":
        failure = _failure_share(store, run_id)
        status = "failed" if failure else status
    summary = {"throughput": throughput}
    if failure:
        summary["failure"] = failure
    store.set_run_status(run_id, status, summary=summary)
    emit(progress, "run", f"run {run_id} {status}", done=state.done, total=total,
         run_id=run_id, status=status)
    return RunOutcome(run_id=run_id, status=status, done=state.done, total=total,
                      errors=state.errors, skipped=skipped,
                      seconds=time.perf_counter() - started, throughput=throughput,
                      failure=failure)


def _mark_interrupted(store: ResultsStore, run_id: str) -> None:
    """Best effort: on a full disk even this update may not fit, and the original error
    is the one to report."""
    try:
        store.set_run_status(run_id, "interrupted")
    except (sqlite3.Error, OSError):
        pass


def _failure_share(store: ResultsStore, run_id: str) -> str | None:
    """Why the run counts as failed, or None: more than MAX_ERROR_SHARE of its stored
    calls are errors (every call failing is the usual case: a model that cannot load
    its prompts, a template that breaks). A figure computed from the rest would
    describe a different, smaller suite than the one the committee was told about."""
    counts = store.call_counts(run_id)
    if counts.total == 0 or counts.errors / counts.total <= MAX_ERROR_SHARE:
        return None
    return (f"{counts.errors} of {counts.total} calls failed (more than "
            f"{MAX_ERROR_SHARE:.0%}); first error: {counts.first_error}")


def _record_judge_validation(store: ResultsStore, run_id: str, suites: list[Suite]) -> None:
    """Score the always-on rule-based judge against labelled examples, per run, so every
    report states the agreement of the judge that produced its figures: the bundled
    labelled set plus the reference responses (known refusals) of the run's own items."""
    from engine.judges.apply import record_validation
    from engine.judges.rule_based import RuleBasedJudge
    from engine.judges.validation import (examples_from_reference_responses,
                                          load_validation_examples)

    examples = (load_validation_examples(JUDGE_VALIDATION_FILE)
                if JUDGE_VALIDATION_FILE.exists() else [])
    for suite in suites:
        examples += examples_from_reference_responses(suite.open_items())
    if examples and any(s.open_items() for s in suites):
        record_validation(store, run_id, RuleBasedJudge(), examples)


@dataclass
class _ModelMeter:
    """Wall time spent in scoring vs generation, for the items/s and tokens/s figures."""

    scored: int = 0
    score_seconds: float = 0.0
    generated_tokens: int = 0
    generate_seconds: float = 0.0
    prompt_tokens: int = 0

    def summary(self, provider: str) -> dict:
        return {
            "execution_provider": provider,
            "scored_items": self.scored,
            "items_per_second": round(self.scored / self.score_seconds, 2)
            if self.score_seconds else None,
            "generated_tokens": self.generated_tokens,
            "tokens_per_second": round(self.generated_tokens / self.generate_seconds, 2)
            if self.generate_seconds else None,
            "prompt_tokens": self.prompt_tokens,
        }


@dataclass
class _Progress:
    total: int
    done: int
    progress: ProgressCallback | None
    run_id: str
    tau: float
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)
    new_calls: int = 0
    cell_calls: dict = field(default_factory=lambda: defaultdict(list))
    items: dict = field(default_factory=dict)

    def record(self, store: ResultsStore, rec: CallRecord, unit: WorkUnit) -> None:
        store.record_call(rec)
        self.done += 1
        self.new_calls += 1
        if rec.error:
            self.errors += 1
        live = None
        if isinstance(unit.item, McqItem) and not rec.variant:
            cell = (unit.model, unit.condition)
            self.cell_calls[cell].append(rec)
            self.items[unit.item.id] = unit.item
            try:
                from engine.metrics.live import headline
                live = headline(self.cell_calls[cell], self.items, self.tau)
            except ImportError:
                live = None
        elapsed = time.perf_counter() - self.started
        rate = self.new_calls / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        emit(self.progress, "call", f"{unit.model} · {unit.condition} · {unit.item.id}",
             done=self.done, total=self.total, run_id=self.run_id, model=unit.model,
             condition=unit.condition, suite=unit.suite.id, item=unit.item.id,
             variant=unit.variant, error=rec.error, eta_seconds=eta, live=live)


def _run_model_units(store: ResultsStore, run_id: str, config: RunConfig, model, corpus,
                     units: list[WorkUnit], state: _Progress, cancel: CancelToken,
                     meter: _ModelMeter) -> None:
    from engine.conditions import ConditionSettings

    s = config.settings
    cond_settings = ConditionSettings(
        rag_k=s.rag_k, agentic_max_steps=s.agentic_max_steps,
        agentic_query_tokens=s.agentic_query_tokens, max_context_tokens=s.max_context_tokens,
        answer_budget=s.answer_budget, clean_plus_conflict=s.clean_plus_conflict,
        open_items_under_rag=s.open_items_under_rag)
    scoring = [u for u in units if isinstance(u.item, McqItem) and not u.variant.startswith("sample:")]
    scoring_keys = {u.key for u in scoring}
    other = [u for u in units if u.key not in scoring_keys]
    for batch in _batches(scoring, s.batch_size):
        if cancel.cancelled:
            return
        _score_batch(store, run_id, model, corpus, cond_settings, batch, state, meter)
    for unit in other:
        if cancel.cancelled:
            return
        if isinstance(unit.item, McqItem):
            _sample_answer(store, run_id, model, corpus, cond_settings, s, unit, state, meter)
        else:
            _open_answer(store, run_id, model, corpus, cond_settings, s, unit, state, meter)


def _batches(units: list[WorkUnit], size: int) -> Iterable[list[WorkUnit]]:
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


def _mcq_plan(unit: WorkUnit, model, corpus, cond_settings):
    from engine.conditions import build_mcq_prompt, permute_options

    item = unit.item
    mapping = None
    if unit.variant.startswith("perm:"):
        item, mapping = permute_options(item, int(unit.variant.split(":", 1)[1]))
    plan = build_mcq_prompt(unit.condition, item, model, corpus, cond_settings)
    return plan, mapping


def _aux_cost(plan) -> tuple[int, int, float]:
    aux = getattr(plan, "aux_calls", None) or []
    return (sum(int(a.get("prompt_tokens", 0) or 0) for a in aux),
            sum(int(a.get("completion_tokens", 0) or 0) for a in aux),
            sum(float(a.get("latency_ms", 0.0) or 0.0) for a in aux))


def _score_batch(store, run_id, model, corpus, cond_settings, batch, state, meter) -> None:
    planned = []
    for unit in batch:
        try:
            with Stopwatch() as sw:
                plan, mapping = _mcq_plan(unit, model, corpus, cond_settings)
            planned.append((unit, plan, mapping, sw.ms))
        except Exception as exc:  # one bad item must not stop the run
            state.record(store, error_record(run_id, unit, exc), unit)
    _score_planned(store, run_id, model, planned, state, meter)


def _score_planned(store, run_id, model, planned, state, meter) -> None:
    if not planned:
        return
    try:
        with Stopwatch() as sw:
            scores = model.score_options([p.prompt_text for _, p, _, _ in planned],
                                         [p.letters for _, p, _, _ in planned])
    except Exception as exc:
        if len(planned) > 1:  # find the one bad prompt: the others must still be answered
            for one in planned:
                _score_planned(store, run_id, model, [one], state, meter)
            return
        unit, plan, _, _ = planned[0]
        state.record(store, error_record(run_id, unit, exc, plan.prompt_text), unit)
        return
    meter.scored += len(planned)
    meter.score_seconds += sw.ms / 1000.0
    for (unit, plan, mapping, plan_ms), score in zip(planned, scores):
        rec = base_record(run_id, unit, plan.prompt_text, dict(plan.context))
        probs = map_back(score.probs, mapping)
        rec.option_probs = probs
        rec.chosen, rec.confidence = choose(probs)
        if mapping:
            rec.context["permutation"] = mapping
        aux_in, aux_out, aux_ms = _aux_cost(plan)
        rec.prompt_tokens = score.prompt_tokens + aux_in
        rec.completion_tokens = aux_out
        rec.latency_ms = score.latency_ms + aux_ms
        meter.prompt_tokens += rec.prompt_tokens
        state.record(store, rec, unit)


def _sample_answer(store, run_id, model, corpus, cond_settings, s: RunSettings, unit, state,
                   meter) -> None:
    from engine.models.runtime import GenerationSettings

    try:
        plan, _ = _mcq_plan(unit, model, corpus, cond_settings)
        index = int(unit.variant.split(":", 1)[1])
        gen = model.generate(plan.prompt_text, GenerationSettings(
            max_new_tokens=4, temperature=s.sample_temperature, top_p=0.95, seed=index))
    except Exception as exc:
        state.record(store, error_record(run_id, unit, exc), unit)
        return
    rec = base_record(run_id, unit, plan.prompt_text, dict(plan.context))
    rec.output_text = gen.text
    rec.chosen = parse_letter(gen.text, plan.letters)
    rec.context["sample_seed"] = index
    aux_in, aux_out, aux_ms = _aux_cost(plan)
    rec.prompt_tokens = gen.prompt_tokens + aux_in
    rec.completion_tokens = gen.completion_tokens + aux_out
    rec.latency_ms = gen.latency_ms + aux_ms
    meter.generated_tokens += gen.completion_tokens
    meter.generate_seconds += gen.latency_ms / 1000.0
    state.record(store, rec, unit)


def _open_answer(store, run_id, model, corpus, cond_settings, s: RunSettings, unit, state,
                 meter) -> None:
    from engine.conditions import build_open_prompt
    from engine.judges.rule_based import RuleBasedJudge
    from engine.models.runtime import GenerationSettings

    item: OpenItem = unit.item  # type: ignore[assignment]
    try:
        plan = build_open_prompt(unit.condition, item, model, corpus, cond_settings)
        gen = model.generate(plan.prompt_text, GenerationSettings(
            max_new_tokens=s.open_max_new_tokens, temperature=0.0))
    except Exception as exc:
        state.record(store, error_record(run_id, unit, exc), unit)
        return
    rec = base_record(run_id, unit, plan.prompt_text, dict(plan.context))
    rec.output_text = gen.text
    aux_in, aux_out, aux_ms = _aux_cost(plan)
    rec.prompt_tokens = gen.prompt_tokens + aux_in
    rec.completion_tokens = gen.completion_tokens + aux_out
    rec.latency_ms = gen.latency_ms + aux_ms
    rec.context["finish_reason"] = gen.finish_reason
    meter.generated_tokens += gen.completion_tokens
    meter.generate_seconds += gen.latency_ms / 1000.0
    state.record(store, rec, unit)
    judge = RuleBasedJudge()
    verdict = judge.judge(item.prompt, gen.text, item)
    store.record_judgment(rec.id, judge.judge_id, verdict.label, score=verdict.harm_score,  # type: ignore[arg-type]
                          cares_class=verdict.cares_class, reasons="; ".join(verdict.reasons))
