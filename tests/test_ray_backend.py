"""`--backend ray` on a real local Ray cluster: a head node and one extra worker node, each a
set of real Ray processes on 127.0.0.1 with one CPU, started inside this module.

The tiny ONNX model runs both demo suites under all six conditions (smoke profile, the
demo corpus ingested for the retrieval conditions) once locally and once on Ray; every
stored call row must match byte for byte apart from latency and the row's id, and the
figures must be equal. During the Ray run one replica process is killed with SIGKILL:
Ray restarts it, its batch runs again, and no call is lost or stored twice.

Ray needs sockets on the loopback interface, so this module's network guard allows
connections to 127.0.0.1 only and still fails the test on any other address.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from engine.errors import SafeVetError
from tests.test_desktop_support import desk_ws, window  # noqa: F401
from tests.test_runs import _count_calls, _kill_once_stored
from engine.runs.ray_cluster import AIR_GAP_ENVIRONMENT, LOOPBACK, LOOPBACK_ONLY

# Read by Ray when it is imported: no usage stats, and 127.0.0.1 as every node's address.
os.environ.update({**AIR_GAP_ENVIRONMENT, **LOOPBACK_ONLY})
ray = pytest.importorskip("ray")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_SUITES = [REPO_ROOT / "assets" / "suites" / "demo-radiology-mcq",
               REPO_ROOT / "assets" / "suites" / "demo-open-safety"]
DEMO_CORPUS = REPO_ROOT / "assets" / "corpus" / "demo-radiology"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Fields that differ between two executions of the same call by design.
NOT_COMPARED = ("id", "run_id", "latency_ms")
# Batches of two, packages of two batches: many packages, so a replica has one queued
# when it is killed.
RUN_OVERRIDES = {"batch_size": 2, "generation_batch_size": 2, "package_calls": 4}
LONG_MODEL = "tiny-chatml-4k"


def _loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return isinstance(host, str) and host in LOOPBACK_HOSTS


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The suite's guard, narrowed: loopback connections (Ray's own processes) pass, any
    other connection or name lookup is recorded and fails the test."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            attempts.append(repr(address))
            raise AssertionError(f"network connection attempted to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            attempts.append(repr(address))
            raise AssertionError(f"network connection attempted to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK_HOSTS:
            attempts.append(f"getaddrinfo({host!r})")
            raise AssertionError(f"name lookup attempted for {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"network attempted: {attempts}"


@pytest.fixture(scope="module")
def ray_cluster():
    """Head (1 CPU, no dashboard) plus one worker node (1 CPU), all on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": LOOPBACK})
    worker = cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)
    ray.init(address=cluster.address, _node_ip_address=LOOPBACK, log_to_driver=False)
    cluster.wait_for_nodes(timeout=120)
    print(f"\nRay cluster of 2 nodes up in {time.monotonic() - started:.1f} s")
    try:
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def demo_run_ws(tiny_model_store, embedder_folder, tmp_path_factory):
    """The tiny ChatML model with a 4,096-token window (its rotary positions have no table,
    so only the config changes), imported by the real path: the demo items' prompts run to
    ~800 of its tokens, which the 256-token fixture model refuses. One workspace for the
    module, with the embedder and the demo corpus ingested once: each test makes its own
    runs in it. Returns (workspace, model name)."""
    from engine.models.importer import import_model
    from engine.retrieval.corpus import ingest_corpus
    from engine.workspace import Workspace
    from tests.fixtures.retrieval import link_embedder

    root = tmp_path_factory.mktemp("ray-demo")
    hf = root / "hf"
    shutil.copytree(tiny_model_store.hf_folders["chatml"], hf)
    config = json.loads((hf / "config.json").read_text())
    config["max_position_embeddings"] = 4096
    (hf / "config.json").write_text(json.dumps(config))
    ws = Workspace.open(root / "ws")
    import_model(ws, hf, LONG_MODEL, "fp32")
    link_embedder(ws, embedder_folder)
    ingest_corpus(ws, [DEMO_CORPUS], "demo-radiology")
    return ws, LONG_MODEL


def _create(ws, store, name: str) -> str:
    from engine.runs.executor import create_run

    return create_run(ws, store, models=[name], suites=[str(p) for p in DEMO_SUITES],
                      conditions="all", profile="smoke", corpus="demo-radiology",
                      overrides=RUN_OVERRIDES)


def _without_latency(value):
    if isinstance(value, dict):
        return {k: _without_latency(v) for k, v in value.items() if k != "latency_ms"}
    if isinstance(value, list):
        return [_without_latency(v) for v in value]
    return value


def _rows(store, run_id: str) -> dict[tuple, str]:
    """Each stored call as canonical JSON, keyed by its unique key, latency left out."""
    rows = {}
    for call in store.calls(run_id):
        d = {k: v for k, v in asdict(call).items() if k not in NOT_COMPARED}
        d["prompt_hash"] = call.prompt_hash
        rows[call.key] = json.dumps(_without_latency(d), sort_keys=True)
    return rows


def _judged(store, run_id: str) -> dict[tuple, tuple]:
    by_id = {c.id: c.key for c in store.calls(run_id)}
    return {(by_id[j.call_id], j.judge): (j.label, j.score, j.cares_class, j.reasons)
            for j in store.judgments(run_id)}


def _figures(store, run_id: str) -> str:
    from engine.figures import MetricParams, run_figures

    metrics = run_figures(store, run_id, params=MetricParams(n_boot=200))
    return json.dumps(_without_latency_figures(metrics.model_dump(mode="json")), sort_keys=True)


# Figures measured in time (latency, throughput) differ between any two executions.
TIMED = ("latency", "per_s", "seconds")


def _without_latency_figures(value):
    if isinstance(value, dict):
        return {k: _without_latency_figures(v) for k, v in value.items()
                if not any(t in k for t in TIMED) and k != "run_id"}
    if isinstance(value, list):
        return [_without_latency_figures(v) for v in value]
    return value


def test_ray_run_matches_local_and_survives_a_killed_replica(ray_cluster, demo_run_ws):
    from engine.runs.backends import Backend
    from engine.runs.executor import execute_run, load_config, load_run_suites
    from engine.runs.plan import plan_units
    from engine.store.db import ResultsStore

    cluster, worker_node = ray_cluster
    ws, name = demo_run_ws
    store = ResultsStore(ws.db_path)
    local_id, ray_id = _create(ws, store, name), _create(ws, store, name)
    _, config = load_config(store, ray_id)
    planned = {u.key for u in plan_units(config, load_run_suites(config), name)}
    assert {c for c in config.conditions} == {"closed_book", "clean_evidence",
                                              "conflict_evidence", "standard_rag",
                                              "agentic_rag", "max_context"}

    started = time.perf_counter()
    local = execute_run(ws, store, local_id)
    local_s = time.perf_counter() - started
    assert local.status == "completed", local.failure

    replicas: dict[str, int] = {}     # node -> replica pid
    killed: list[int] = []
    worker_id = worker_node.node_id[:12]
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.stage == "replica":
            replicas[ev.data["node"]] = ev.data["pid"]
        # The first call stored from the worker node's replica: that replica already runs
        # its next queued batch, which the kill interrupts.
        if (ev.stage == "call" and not killed and (ev.data.get("node") or "").endswith(worker_id)):
            pid = replicas[ev.data["node"]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    started = time.perf_counter()
    outcome = execute_run(ws, store, ray_id, progress=on_event, backend=Backend.parse("ray"))
    ray_s = time.perf_counter() - started
    print(f"\ntiny model, {len(planned)} calls: local {local_s:.1f} s, "
          f"ray (2 nodes × 1 CPU, one replica killed) {ray_s:.1f} s")

    assert outcome.status == "completed", outcome.failure
    assert len(replicas) == 2 and killed, "both nodes ran a replica and one was killed"
    summary = store.get_run(ray_id).summary
    assert summary.backends == ["ray"]
    assert summary.retried_packages >= 1 and summary.retried_units >= 1
    assert set(summary.nodes) == set(replicas)
    assert sum(n.replicas for n in summary.nodes.values()) == 2
    assert sum(n.calls for n in summary.nodes.values()) == len(planned)
    # nothing lost, nothing repeated: one row per planned call
    calls = store.calls(ray_id)
    assert len(calls) == len(planned) == len({c.key for c in calls})
    assert store.done_keys(ray_id) == planned
    # per-node throughput reached the progress events
    assert any(ev.stage == "call" and ev.data.get("nodes") for ev in events)
    assert any(ev.stage == "retry" for ev in events)

    local_rows, ray_rows = _rows(store, local_id), _rows(store, ray_id)
    assert local_rows.keys() == ray_rows.keys()
    differing = [k for k in local_rows if local_rows[k] != ray_rows[k]]
    assert not differing, f"{len(differing)} rows differ, first {differing[0]}:\n" \
                          f"{local_rows[differing[0]]}\n{ray_rows[differing[0]]}"
    assert _judged(store, local_id) == _judged(store, ray_id)
    assert _figures(store, local_id) == _figures(store, ray_id)


def test_local_then_killed_ray_driver_then_ray_resume_stores_each_call_once(ray_cluster,
                                                                            demo_run_ws):
    """A run cancelled locally goes on with `safevet run --resume ID --backend ray` in a CLI
    process that is killed with SIGKILL mid-run (its replicas go with it); a second resume
    on Ray completes it. Every planned call is stored exactly once."""
    from engine.events import CancelToken
    from engine.runs.backends import Backend
    from engine.runs.executor import create_run, execute_run, load_config, load_run_suites
    from engine.runs.plan import plan_units
    from engine.store.db import ResultsStore

    cluster, _ = ray_cluster
    ws, name = demo_run_ws
    store = ResultsStore(ws.db_path)
    run_id = create_run(ws, store, models=[name], suites=[str(p) for p in DEMO_SUITES],
                        conditions="all", profile="smoke", corpus="demo-radiology",
                        overrides={**RUN_OVERRIDES, "item_limit": 8})
    _, config = load_config(store, run_id)
    planned = {u.key for u in plan_units(config, load_run_suites(config), name)}
    cancel = CancelToken()

    def stop_after_five(ev):
        if ev.stage == "call" and ev.done >= 5:
            cancel.cancel()

    assert execute_run(ws, store, run_id, progress=stop_after_five,
                       cancel=cancel).status == "interrupted"
    stored_locally = _count_calls(ws.db_path, run_id)

    at_kill = _kill_once_stored(ws, run_id, stored_locally + 1, timeout=180,
                                extra_args=("--backend", "ray", "--ray-address", cluster.address))
    assert stored_locally < at_kill < len(planned), "the run finished before the kill"

    resumed = execute_run(ws, store, run_id, backend=Backend.parse("ray"))
    assert resumed.status == "completed" and resumed.skipped == at_kill
    calls = store.calls(run_id)
    assert len(calls) == len(planned) == len({c.key for c in calls})
    assert store.done_keys(run_id) == planned
    assert store.get_run(run_id).summary.backends == ["local", "ray"]


def test_replica_refuses_a_model_folder_that_differs_from_the_drivers(ray_cluster,
                                                                       demo_run_ws):
    """A node whose copy of the model differs (here: the manifest the driver planned with
    lists another sha256) refuses to load it, and the run stops naming the file."""
    from engine.models.registry import get_manifest
    from engine.runs.ray_replica import ReplicaSpec, check_same_model
    from engine.store.db import ResultsStore

    ws, name = demo_run_ws
    store = ResultsStore(ws.db_path)
    run_id = _create(ws, store, name)
    manifest = get_manifest(ws, name)
    other = dict(manifest.files, **{manifest.onnx_file: "0" * 64})
    spec = ReplicaSpec(home=str(ws.home), run_id=run_id, config=store.get_run(run_id).config,
                       model=name, files=other, onnx_file=manifest.onnx_file, threads=1)
    with pytest.raises(SafeVetError, match=f"file {manifest.onnx_file} has sha256"):
        check_same_model(spec, manifest.files, manifest.onnx_file, "node x")

    from engine.runs.ray_replica import ModelReplica
    actor = ray.remote(num_cpus=1, max_restarts=0)(ModelReplica).remote(spec)
    with pytest.raises(ray.exceptions.RayActorError, match="has sha256"):
        ray.get(actor.info.remote(), timeout=120)
    ray.kill(actor)


def test_backend_choice_is_checked():
    from engine.runs.backends import BACKENDS, Backend

    assert BACKENDS == ("local", "ray")
    with pytest.raises(SafeVetError, match="unknown backend 'spark'"):
        Backend.parse("spark")
    with pytest.raises(SafeVetError, match="need --backend ray"):
        Backend.parse("local", address="10.0.0.1:6379")


def test_desktop_run_page_runs_on_ray_with_live_node_throughput(ray_cluster, window, qtbot):
    """The Run page's backend choice: a run started with "Ray cluster" executes on the
    cluster (both nodes), every call stored once, per-node throughput in the status line."""
    from PySide6.QtCore import Qt

    from engine.store.db import ResultsStore
    from tests.test_desktop_support import LONG, SUITE_ID

    cluster, _ = ray_cluster
    win, ws, name = window
    win.show_page("run")
    page = win.pages["run"]
    assert not page.ray_address.isEnabled()          # local is the default
    page.select(models=[name], suites=[SUITE_ID], conditions=["closed_book", "clean_evidence"],
                profile="smoke", backend="ray", ray_address=cluster.address)
    assert page.ray_address.isEnabled() and page.chosen_backend().name == "ray"
    seen: list[str] = []
    original = page._on_call

    def watch(ev):
        original(ev)
        seen.append(page.status.text())
    page._on_call = watch
    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    assert not page.backend.isEnabled()              # fixed while the run goes
    qtbot.waitUntil(lambda: page.last_outcome is not None and not page.running, timeout=LONG)
    outcome = page.last_outcome
    assert outcome.status == "completed" and outcome.done == outcome.total == 8
    calls = ResultsStore(ws.db_path).calls(outcome.run_id)
    assert len(calls) == 8 == len({c.key for c in calls})
    summary = ResultsStore(ws.db_path).get_run(outcome.run_id).summary
    assert summary.backends == ["ray"] and sum(n.calls for n in summary.nodes.values()) == 8
    assert any("calls/s" in text for text in seen), seen


@pytest.mark.slow
def test_default_model_fp32_rows_identical_on_ray(ray_cluster, default_model_ws, demo_run_ws):
    """The real default model (fp32): a Ray run stores the same rows as a local run."""
    from engine.runs.backends import Backend
    from engine.runs.executor import create_run, execute_run
    from engine.store.db import ResultsStore

    ws, _ = demo_run_ws
    name = "smollm2-135m-fp32"
    if not (ws.models_dir / name).exists():
        shutil.copytree(default_model_ws.models_dir / name, ws.models_dir / name)
    store = ResultsStore(ws.db_path)
    run_ids = [create_run(ws, store, models=[name], suites=[str(p) for p in DEMO_SUITES],
                          conditions="closed_book,clean_evidence", profile="smoke",
                          overrides={"item_limit": 2, "package_calls": 2})
               for _ in range(2)]
    assert execute_run(ws, store, run_ids[0]).status == "completed"
    on_ray = execute_run(ws, store, run_ids[1], backend=Backend.parse("ray"))
    assert on_ray.status == "completed"
    local_rows, ray_rows = _rows(store, run_ids[0]), _rows(store, run_ids[1])
    assert len(local_rows) == 6 and local_rows == ray_rows
    assert _figures(store, run_ids[0]) == _figures(store, run_ids[1])


def test_head_address_is_checked_before_ray_waits_on_it():
    from engine.runs.ray_cluster import check_head_answers

    with pytest.raises(SafeVetError, match="expected HOST:PORT"):
        check_head_answers("head-without-port")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                      # a port nothing listens on now
    started = time.monotonic()
    with pytest.raises(SafeVetError, match=f"no Ray head answers at 127.0.0.1:{port}"):
        check_head_answers(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 5


def test_replicas_take_one_gpu_each_where_the_cluster_has_gpus():
    from engine.runs.ray_cluster import ReplicaShape

    assert ReplicaShape.of_cluster({"CPU": 64.0, "GPU": 4.0}, 2) == ReplicaShape(4, 1, 1)
    assert ReplicaShape.of_cluster({"CPU": 5.0}, 2) == ReplicaShape(2, 2, 0)
    assert ReplicaShape.of_cluster({"CPU": 1.0}, 4) == ReplicaShape(1, 1, 0)
