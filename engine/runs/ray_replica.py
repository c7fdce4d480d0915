"""One model replica on a Ray node: loads its model once, runs whole batches, stores nothing.

The class is plain Python (Ray wraps it with `ray.remote` in the driver), so it
imports without Ray. A replica opens the same workspace path as the driver (a
shared filesystem: the model folder, the suites and the corpus must be at the
same path on every node), and before it loads anything it checks every file of
the model folder against the manifest's sha256 and that the manifest is the very
one the driver planned with: a node holding a different or damaged copy refuses
to start, naming the file. Suites are hash-checked against the run record as on
the driver. It returns each batch's call records to the driver, the one writer.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import SafeVetError
from engine.events import CancelToken
from engine.runs.model_calls import (BatchKind, CollectSink, RunContext, WorkBatch,
                                     WorkPackage, run_package)
from engine.runs.plan import RunConfig
from engine.runs.progress import ModelMeter
from engine.store.db import CallRecord

UnitKey = tuple[str, str, str, str, str]
# A work package as it travels to a replica: each batch's kind and its units' keys.
PackageKeys = list[tuple[BatchKind, list[UnitKey]]]


def package_keys(package: WorkPackage) -> PackageKeys:
    return [(b.kind, [u.key for u in b.units]) for b in package.batches]


@dataclass(frozen=True)
class ReplicaSpec:
    """What the driver tells a replica: where the shared workspace is, the run, the model,
    and the model files' sha256 as the driver's manifest lists them."""

    home: str
    run_id: str
    config: RunConfig
    model: str
    files: dict[str, str]
    onnx_file: str
    threads: int
    provider: str = "auto"


@dataclass(frozen=True)
class ReplicaInfo:
    """Where a replica runs and how its model executes (for the run record and progress)."""

    node_id: str
    address: str
    pid: int
    execution_provider: str
    provider_notice: str | None
    session: dict

    @property
    def node(self) -> str:
        """The node as progress and the run summary name it: address and id prefix (two
        nodes on one machine share an address)."""
        return f"{self.address}/{self.node_id[:12]}"


@dataclass(frozen=True)
class PackageResult:
    """One package's calls, in the order they finished, unstored; and what it cost."""

    calls: list[tuple[UnitKey, CallRecord]]
    meter: ModelMeter
    node: str
    seconds: float


def check_same_model(spec: ReplicaSpec, files: dict[str, str], onnx_file: str,
                     where: str) -> None:
    """Refuse a node whose manifest differs from the driver's: another export, another
    quantisation, or a half-copied folder would score different answers under the same
    model name."""
    for rel in sorted(set(spec.files) | set(files)):
        want, have = spec.files.get(rel), files.get(rel)
        if want != have:
            raise SafeVetError(
                f"model {spec.model} at {where}: file {rel} has sha256 "
                f"{(have or 'none (not listed)')[:12]} here but {(want or 'none')[:12]} on the "
                f"driver; copy the driver's model folder to this node (or the shared path)")
    if onnx_file != spec.onnx_file:
        raise SafeVetError(f"model {spec.model} at {where}: onnx file {onnx_file} here, "
                           f"{spec.onnx_file} on the driver")


SCRATCH_PREFIX = "safevet-replica-"


def _scratch_folder() -> str:
    """A private folder for this replica's corpus copy, named by its pid; folders left by
    replicas that were killed (so could not clean up) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = old.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ModelReplica:
    """Ray actor body. `__init__` runs again after Ray restarts a killed replica."""

    def __init__(self, spec: ReplicaSpec) -> None:
        from engine.models.onnx_model import OnnxCandidateModel
        from engine.models.registry import check_folder, get_manifest, model_dir
        from engine.models.runtime_options import RuntimeOptions
        from engine.runs.plan import plan_units
        from engine.runs.run_suites import load_run_suites
        from engine.workspace import Workspace

        self.spec = spec
        ws = Workspace(Path(spec.home))
        folder = model_dir(ws, spec.model)
        manifest = get_manifest(ws, spec.model)
        check_same_model(spec, manifest.files, manifest.onnx_file,
                         f"{folder} on {socket.gethostname()}")
        # Every file hashed afresh: the stamp cache belongs to the driver's machine.
        check_folder(folder, manifest, f"model {spec.model}", {}, None)
        suites = load_run_suites(spec.config)
        self.units = {u.key: u for u in plan_units(spec.config, suites, spec.model)}
        self._scratch: str | None = None
        self.corpus = self._open_corpus(ws)
        settings = spec.config.settings
        self.model = OnnxCandidateModel(folder, manifest, provider=spec.provider,
                                        threads=spec.threads, batch_size=settings.batch_size,
                                        generation_batch_size=settings.generation_batch_size,
                                        options=RuntimeOptions.from_environment())
        import ray

        context = ray.get_runtime_context()
        self._info = ReplicaInfo(node_id=context.get_node_id(),
                                 address=ray.util.get_node_ip_address(), pid=os.getpid(),
                                 execution_provider=self.model.execution_provider,
                                 provider_notice=self.model.provider_notice,
                                 session=dict(getattr(self.model, "session_info", {})))

    def _open_corpus(self, ws):
        """The run's corpus as a private copy: the driver holds the store's lock for the
        whole run (so nothing writes it meanwhile) and one process opens a store at a time,
        so each replica reads its own copy, embedded by the same (hash-checked) embedder."""
        from engine.conditions.registry import retrieval_names
        from engine.retrieval.corpus import corpus_dir, open_corpus
        from engine.retrieval.embedder import embedder_dir
        from engine.retrieval.lock import LOCK_NAME
        from engine.workspace import Workspace

        config = self.spec.config
        if not config.corpus or not any(c in retrieval_names() for c in config.conditions):
            return None
        self._scratch = _scratch_folder()
        private = Workspace.open(self._scratch)
        shutil.copytree(corpus_dir(ws, config.corpus), corpus_dir(private, config.corpus),
                        ignore=shutil.ignore_patterns(LOCK_NAME))
        target = embedder_dir(private)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(embedder_dir(ws).resolve(), target)
        return open_corpus(private, config.corpus)

    def info(self) -> ReplicaInfo:
        return self._info

    def run(self, package: PackageKeys) -> PackageResult:
        """Every call of one package (the units the driver names by key), unstored."""
        missing = [k for _, keys in package for k in keys if k not in self.units]
        if missing:
            raise SafeVetError(f"replica planned no unit {missing[0]} for run "
                               f"{self.spec.run_id}: the run's plan differs on this node")
        sink, meter = CollectSink(), ModelMeter()
        ctx = RunContext(sink, self.spec.run_id, self.spec.config, self.model, self.corpus,
                         meter, CancelToken())
        start = time.perf_counter()
        run_package(ctx, WorkPackage([WorkBatch(kind, [self.units[k] for k in keys])
                                      for kind, keys in package]))
        return PackageResult(calls=[(unit.key, rec) for unit, rec in sink.calls], meter=meter,
                             node=self._info.node, seconds=time.perf_counter() - start)

    def close(self) -> None:
        """Release the corpus copy (the driver asks before it ends the replica)."""
        if getattr(self, "corpus", None) is not None:
            self.corpus.close()
            self.corpus = None
        if getattr(self, "_scratch", None):
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __del__(self) -> None:
        self.close()
