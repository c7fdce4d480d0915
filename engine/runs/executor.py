"""Run execution: the loop that turns a planned run into stored calls.

Every call is committed to the store the moment it completes, and a unit whose
key is already stored is skipped, so the same function starts a run and
resumes one after Ctrl-C or `kill -9`. A failure on one item is stored as an
error row and the run goes on.

The units run in this process (the default) or on a Ray cluster
(`engine.runs.ray_backend`); either way this process alone writes the store.
"""
from __future__ import annotations

import getpass
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from engine.environment_info import host_info, package_versions
from engine.errors import DiskFullError, NotFoundError, SafeVetError
from engine.failures import is_disk_full
from engine.events import CancelToken, ProgressCallback, emit
from engine.judges.apply import ALWAYS_ON_JUDGE, judge_run, validate_for_run
from engine.runs.backends import LOCAL, Backend
from engine.runs.model_calls import RunContext, StoreSink, run_model_units
from engine.conditions.registry import retrieval_names
from engine.runs.plan import RunConfig, SuiteRef, WorkUnit, parse_conditions, plan_units
from engine.runs.profiles import RunSettings, get_profile
from engine.runs.progress import ModelMeter, RunProgress
from engine.runs.records import (ModelEnvironment, ModelThroughput, RunEnvironment, RunRecord,
                                 RunStatus, RunSummary)
from engine.runs.run_suites import load_run_suites
from engine.store.db import ResultsStore
from engine.suites.registry import resolve_suite
from engine.workspace import Workspace

# A run whose stored calls are more than this share errors ends `failed`, not `completed`.
MAX_ERROR_SHARE = 0.5


@dataclass
class RunOutcome:
    run_id: str
    status: RunStatus
    done: int
    total: int
    errors: int
    skipped: int
    seconds: float
    throughput: dict[str, ModelThroughput] = field(default_factory=dict)
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
    needing = [c for c in condition_list if c in retrieval_names()]
    if corpus is None and needing:
        raise SafeVetError(f"conditions {', '.join(needing)} "
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
    environment = RunEnvironment(host=host_info(), software=package_versions())
    store.create_run(run_id, profile=prof.name, operator=operator or getpass.getuser(),
                     config=config, environment=environment)
    store.append_audit(operator or getpass.getuser(), "run.create",
                       {"run_id": run_id, "models": models,
                        "suites": [f"{s.id}@{s.version}" for s in resolved]})
    return run_id


def load_config(store: ResultsStore, run_id: str) -> tuple[RunRecord, RunConfig]:
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found in {store.path}")
    return run, run.config


def execute_run(ws: Workspace, store: ResultsStore, run_id: str,
                progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None, backend: Backend = LOCAL) -> RunOutcome:
    """Execute (or resume) a stored run until done or cancelled.

    One process executes a run at a time (a lock file under the workspace): a CLI
    resume and a desktop resume of the same run would otherwise race on its calls.
    `backend` says where the model calls run; a run started on one backend resumes on
    either, since what is stored does not depend on it.
    """
    from engine.retrieval.lock import StoreLock

    with StoreLock(ws.home / "runs" / run_id, f"run {run_id}"):
        return _execute_locked(ws, store, run_id, progress, cancel, backend)


def _execute_locked(ws: Workspace, store: ResultsStore, run_id: str,
                    progress: ProgressCallback | None,
                    cancel: CancelToken | None, backend: Backend = LOCAL) -> RunOutcome:
    run, config = load_config(store, run_id)
    suites = load_run_suites(config, ws)
    cancel = cancel or CancelToken()
    done_keys = store.done_keys(run_id)
    units_by_model = {m: plan_units(config, suites, m) for m in config.models}
    total = sum(len(u) for u in units_by_model.values())
    skipped = sum(1 for us in units_by_model.values() for u in us if u.key in done_keys)
    state = RunProgress(total=total, done=skipped, progress=progress, run_id=run_id,
                        tau=config.settings.tau)
    summary = run.summary or RunSummary()
    if not summary.backends or summary.backends[-1] != backend.name:
        summary.backends.append(backend.name)
    started = time.perf_counter()
    corpus = None
    try:
        store.set_run_status(run_id, "running")
        validate_for_run(store, run_id, ALWAYS_ON_JUDGE, suites)
        if skipped:
            # An answer is stored, then judged: a crash between the two leaves it unjudged,
            # and resume skips stored calls, so the always-on judge catches up here.
            judge_run(store, run_id, {s.id: s for s in suites}, ALWAYS_ON_JUDGE)
        emit(progress, "run", f"run {run_id}: {total} calls, {skipped} already stored",
             done=skipped, total=total, run_id=run_id)
        if config.corpus and any(c in retrieval_names() for c in config.conditions):
            from engine.retrieval.corpus import open_corpus
            corpus = open_corpus(ws, config.corpus)
        pending = {m: [u for u in units if u.key not in done_keys]
                   for m, units in units_by_model.items()}
        if backend.name == "ray":
            from engine.runs.ray_backend import run_on_ray
            status = run_on_ray(ws, store, run, pending, state, cancel, summary, backend)
        else:
            status = _run_models(ws, store, run, pending, corpus, state, cancel, summary)
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
    if status == "completed":
        summary.failure = _failure_share(store, run_id)
        status = "failed" if summary.failure else status
    store.set_run_status(run_id, status, summary=summary)
    emit(progress, "run", f"run {run_id} {status}", done=state.done, total=total,
         run_id=run_id, status=status)
    return RunOutcome(run_id=run_id, status=status, done=state.done, total=total,
                      errors=state.errors, skipped=skipped,
                      seconds=time.perf_counter() - started, throughput=summary.throughput,
                      failure=summary.failure)


def _run_models(ws: Workspace, store: ResultsStore, run: RunRecord,
                pending: dict[str, list[WorkUnit]], corpus, state: RunProgress,
                cancel: CancelToken, summary: RunSummary) -> RunStatus:
    """Each model with work left: load (hash-checked), record how it runs, run its units."""
    from engine.models.registry import load_model

    for model_name, units in pending.items():
        if not units:
            continue
        if cancel.cancelled:
            return "interrupted"
        emit(state.progress, "model", f"loading {model_name}", model=model_name)
        settings = run.config.settings
        model = load_model(ws, model_name, batch_size=settings.batch_size,
                           generation_batch_size=settings.generation_batch_size)
        run.environment.models[model_name] = ModelEnvironment(
            execution_provider=model.execution_provider, provider_notice=model.provider_notice,
            session=getattr(model, "session_info", {}))
        store.update_run(run.id, environment=run.environment)
        meter = ModelMeter()
        run_model_units(RunContext(StoreSink(store, state), run.id, run.config, model, corpus,
                                   meter, cancel), units)
        summary.throughput[model_name] = meter.summary(model.execution_provider)
        store.update_run(run.id, summary=summary)
        if cancel.cancelled:
            return "interrupted"
    return "completed"


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
