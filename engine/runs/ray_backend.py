"""`--backend ray`: a run's packages executed by model replicas on a Ray cluster.

The driver (this process) plans exactly the work packages the local loop runs
(`work_packages`: the same batches in the same order, each package from a fresh
prefix cache, so the same prompts are padded and cached together and the stored
rows match a local run's to the bit), starts
one replica actor per GPU (or per CPU slot group) for each model in turn, and
keeps every replica fed with up to `QUEUE_PER_REPLICA` packages. As each package
comes back (`ray.wait`) its calls go through the same `StoreSink` as a local
run's: the driver is the only writer, each call is committed as it arrives,
and resume (local or Ray) skips whatever is stored.

Faults: a replica killed mid-package is restarted by Ray (`max_restarts`); its
unfinished packages, none of whose calls were stored, are handed to a live
replica and counted in the run summary (`retried_packages`, `retried_units`).
A driver killed mid-run takes its replicas with it; `safevet run --resume`
continues. Every wait is bounded (`STALL_SECONDS`), so a wedged cluster ends
the run `interrupted` with a message instead of hanging.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from engine.errors import SafeVetError
from engine.events import CancelToken, emit
from engine.runs.backends import Backend
from engine.runs.model_calls import StoreSink, WorkPackage, work_packages
from engine.runs.plan import WorkUnit
from engine.runs.progress import ModelMeter, RunProgress
from engine.runs.ray_cluster import ReplicaShape, ray_session
from engine.runs.ray_replica import (ModelReplica, PackageResult, ReplicaInfo, ReplicaSpec,
                                     package_keys)
from engine.runs.records import (ModelEnvironment, NodeThroughput, RunRecord, RunStatus,
                                 RunSummary)
from engine.store.db import ResultsStore
from engine.workspace import Workspace

# Packagees queued on one replica: while it runs one, the next is already there.
QUEUE_PER_REPLICA = 2
# Ray restarts a killed replica this often (each restart loads the model again).
MAX_RESTARTS = 2
# A package is tried this often in all before the run stops with its error.
MAX_ATTEMPTS = 3
# Seconds to wait for replicas to load their model, and for any package to come back.
LOAD_SECONDS = 900.0
STALL_SECONDS = 1800.0
# Seconds replicas get to remove their corpus copies before they are ended.
CLOSE_SECONDS = 10.0
# How often the wait loop looks at the cancel token.
POLL_SECONDS = 0.5


def run_on_ray(ws: Workspace, store: ResultsStore, run: RunRecord,
               pending: dict[str, list[WorkUnit]], state: RunProgress, cancel: CancelToken,
               summary: RunSummary, backend: Backend) -> RunStatus:
    """The Ray counterpart of the executor's local model loop; same contract."""
    if not any(pending.values()):
        return "completed"
    with ray_session(backend) as ray:
        for model_name, units in pending.items():
            if not units:
                continue
            if cancel.cancelled:
                return "interrupted"
            if _run_model(ray, ws, store, run, model_name, units, state, cancel, summary,
                          backend) == "interrupted":
                return "interrupted"
    return "completed"


@dataclass
class _Replica:
    handle: object
    info: ReplicaInfo | None = None
    in_flight: int = 0
    failures: int = 0

    @property
    def alive(self) -> bool:
        return self.failures <= MAX_RESTARTS


@dataclass
class _Flight:
    package: WorkPackage
    replica: _Replica
    attempt: int = 1


@dataclass
class _Tally:
    """The driver's running account of one model's packages across replicas and nodes."""

    meter: ModelMeter = field(default_factory=ModelMeter)
    providers: set[str] = field(default_factory=set)


def _run_model(ray, ws: Workspace, store: ResultsStore, run: RunRecord, model_name: str,
               units: list[WorkUnit], state: RunProgress, cancel: CancelToken,
               summary: RunSummary, backend: Backend) -> RunStatus:
    from engine.models.registry import get_manifest

    settings = run.config.settings
    manifest = get_manifest(ws, model_name)
    shape = ReplicaShape.of_cluster(ray.cluster_resources(), backend.cpus_per_replica)
    spec = ReplicaSpec(home=str(ws.home), run_id=run.id, config=run.config, model=model_name,
                       files=dict(manifest.files), onnx_file=manifest.onnx_file,
                       threads=shape.num_cpus)
    emit(state.progress, "model", f"loading {model_name} on {shape.replicas} Ray "
         f"replica(s) ({'1 GPU' if shape.num_gpus else f'{shape.num_cpus} CPU'} each)",
         model=model_name, backend="ray", replicas=shape.replicas)
    actor = ray.remote(num_cpus=shape.num_cpus, num_gpus=shape.num_gpus,
                       max_restarts=MAX_RESTARTS, max_task_retries=0)(ModelReplica)
    replicas = [_Replica(actor.remote(spec)) for _ in range(shape.replicas)]
    try:
        _await_loaded(ray, replicas, model_name, state)
        tally = _Tally(providers={r.info.execution_provider for r in replicas if r.info})
        first = next(r.info for r in replicas if r.info)
        run.environment.models[model_name] = ModelEnvironment(
            execution_provider="+".join(sorted(tally.providers)),
            provider_notice=first.provider_notice, session=first.session)
        store.update_run(run.id, environment=run.environment)
        for r in replicas:
            node = summary.nodes.setdefault(r.info.node, NodeThroughput(
                node=r.info.node, execution_provider=r.info.execution_provider))
            node.replicas += 1
        by_key = {u.key: u for u in units}
        status = _dispatch(ray, list(work_packages(units, settings)), replicas, by_key, store,
                           state, cancel, summary, tally)
        summary.throughput[model_name] = tally.meter.summary("+".join(sorted(tally.providers)))
        store.update_run(run.id, summary=summary)
        return status
    finally:
        ray.wait([r.handle.close.remote() for r in replicas], num_returns=len(replicas),
                 timeout=CLOSE_SECONDS)
        for r in replicas:
            ray.kill(r.handle, no_restart=True)


def _await_loaded(ray, replicas: list[_Replica], model_name: str, state: RunProgress) -> None:
    """Each replica's model loaded (and its files verified), or the run stops naming why."""
    refs = {r.handle.info.remote(): r for r in replicas}
    ready, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=LOAD_SECONDS)
    if waiting:
        raise SafeVetError(f"{len(waiting)} of {len(refs)} Ray replicas of {model_name} did not "
                           f"load within {LOAD_SECONDS:.0f} s (is the cluster out of "
                           f"{'GPUs' if 'GPU' in ray.cluster_resources() else 'CPUs'}?)")
    for ref in ready:
        try:
            info: ReplicaInfo = ray.get(ref, timeout=LOAD_SECONDS)
        except Exception as exc:  # noqa: BLE001  a replica that refused: say why, stop
            raise SafeVetError(f"a Ray replica of {model_name} could not start: "
                               f"{_root_cause(exc)}") from None
        refs[ref].info = info
        emit(state.progress, "replica", f"{model_name} replica ready on node {info.node} "
             f"(pid {info.pid}, {info.execution_provider})", model=model_name,
             node=info.node, pid=info.pid, execution_provider=info.execution_provider)


def _dispatch(ray, packages: list[WorkPackage], replicas: list[_Replica],
              by_key: dict[tuple, WorkUnit], store: ResultsStore, state: RunProgress,
              cancel: CancelToken, summary: RunSummary, tally: _Tally) -> RunStatus:
    """Keep every live replica fed; store each package's calls as the package returns."""
    sink = StoreSink(store, state)
    todo: deque[_Flight] = deque(_Flight(b, replicas[0]) for b in packages)
    flights: dict[object, _Flight] = {}
    last_back = time.monotonic()

    def submit(flight: _Flight) -> None:
        live = [r for r in replicas if r.alive]
        if not live:
            raise SafeVetError("every Ray replica died more often than Ray restarts them; "
                               "the calls stored so far are kept (resume the run)")
        target = min(live, key=lambda r: r.in_flight)
        flight.replica = target
        target.in_flight += 1
        flights[target.handle.run.remote(package_keys(flight.package))] = flight

    while todo or flights:
        while todo and not cancel.cancelled and any(
                r.alive and r.in_flight < QUEUE_PER_REPLICA for r in replicas):
            submit(todo.popleft())
        if not flights:
            return "interrupted"   # cancelled with nothing in flight
        ready, _ = ray.wait(list(flights), num_returns=1, timeout=POLL_SECONDS)
        if not ready:
            if time.monotonic() - last_back > STALL_SECONDS:
                raise SafeVetError(f"no Ray package came back in {STALL_SECONDS:.0f} s; the "
                                   f"calls stored so far are kept (resume the run)")
            continue
        last_back = time.monotonic()
        ref = ready[0]
        flight = flights.pop(ref)
        flight.replica.in_flight -= 1
        try:
            result: PackageResult = ray.get(ref, timeout=STALL_SECONDS)
        except _replica_lost(ray):
            # The replica (or its node) died with this package in flight: none of its calls
            # was stored, so running it again repeats nothing.
            flight.replica.failures += 1
            summary.retried_packages += 1
            summary.retried_units += len(flight.package.units)
            if flight.attempt >= MAX_ATTEMPTS:
                raise SafeVetError(f"a package of {len(flight.package.units)} calls failed on "
                                   f"{MAX_ATTEMPTS} Ray replicas in turn; resume the run "
                                   f"once the cluster is healthy") from None
            emit(state.progress, "retry", f"a Ray replica died; retrying its package of "
                 f"{len(flight.package.units)} calls", units=len(flight.package.units))
            todo.appendleft(_Flight(flight.package, flight.replica, flight.attempt + 1))
            continue
        except ray.exceptions.RayTaskError as exc:
            raise SafeVetError(f"a Ray replica failed: {_root_cause(exc)}") from None
        _store_package(result, by_key, sink, state, summary, tally)
    return "interrupted" if cancel.cancelled else "completed"


def _store_package(result: PackageResult, by_key: dict[tuple, WorkUnit], sink: StoreSink,
                 state: RunProgress, summary: RunSummary, tally: _Tally) -> None:
    """The driver's side of one finished package: node figures first (so the call events
    carry them), then each call through the one writer, in the order it finished."""
    # A replica Ray restarted may have landed on another node.
    node = summary.nodes.setdefault(result.node, NodeThroughput(
        node=result.node, execution_provider="+".join(sorted(tally.providers)), replicas=1))
    node.calls += len(result.calls)
    node.busy_seconds = round(node.busy_seconds + result.seconds, 3)
    node.calls_per_second = round(node.calls / node.busy_seconds, 2) if node.busy_seconds \
        else None
    state.node_rates[result.node] = node.calls_per_second or 0.0
    state.node = result.node
    tally.meter.merge(result.meter)
    for key, rec in result.calls:
        sink.put(rec, by_key[key])


def _replica_lost(ray) -> tuple[type[BaseException], ...]:
    """Ray's errors for a replica that went away (killed, crashed, its node lost)."""
    e = ray.exceptions
    return (e.RayActorError, e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError)


def _root_cause(exc: BaseException) -> str:
    """The SafeVet error inside a Ray error if there is one (a replica's refusal names the
    file), else the last line Ray gives."""
    seen = exc
    for _ in range(8):
        if isinstance(seen, SafeVetError):
            return str(seen)
        nxt = getattr(seen, "cause", None) or seen.__cause__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln:
            return ln.strip()
    return lines[-1].strip() if lines else type(exc).__name__
