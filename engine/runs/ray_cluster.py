"""Joining a Ray cluster for a run, air-gap first.

Ray is optional (`pip install` from the offline bundle built with `--with-ray`),
so it is imported here and nowhere at module level. Before Ray is touched,
usage stats are switched off (RAY_USAGE_STATS_ENABLED=0: Ray would otherwise
try to report to its makers); the dashboard, a web server on a port, is off
unless asked for. A run joins an existing cluster (`ray start --head` on one
machine, `ray start --address HEAD:6379` on the others) or, with no address,
starts a private single-machine Ray that ends with the run.
"""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from engine.errors import SafeVetError
from engine.runs.backends import Backend

# Set in this process before Ray is imported, inherited by every process it starts.
AIR_GAP_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0"}
# A private Ray for one run listens on the loopback interface only; this switch makes Ray
# take 127.0.0.1 as the node's address (and not look for a routable one).
LOOPBACK = "127.0.0.1"
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# Seconds to wait for a named head to answer before Ray's own, much longer, retries.
HEAD_CONNECT_SECONDS = 10.0


@dataclass(frozen=True)
class ReplicaShape:
    """How many model replicas a cluster holds and what each one reserves."""

    replicas: int
    num_cpus: int
    num_gpus: int

    @classmethod
    def of_cluster(cls, resources: dict[str, float], cpus_per_replica: int) -> "ReplicaShape":
        """One replica per GPU where the cluster has GPUs (each with one CPU for its
        feeding), else one per `cpus_per_replica` CPU slots, at least one."""
        gpus = int(resources.get("GPU", 0))
        if gpus >= 1:
            return cls(replicas=gpus, num_cpus=1, num_gpus=1)
        cpus = max(1, int(resources.get("CPU", 0)))
        per = min(cpus_per_replica, cpus)   # a replica must fit the cluster at all
        return cls(replicas=max(1, cpus // per), num_cpus=per, num_gpus=0)


def import_ray(loopback_only: bool = False):
    """The ray module, with the air-gap environment set first (Ray reads it when imported);
    a clear error where Ray is not installed."""
    os.environ.update(AIR_GAP_ENVIRONMENT)
    if loopback_only:
        os.environ.update(LOOPBACK_ONLY)
    try:
        import ray
    except ImportError as exc:
        raise SafeVetError("--backend ray needs Ray, which is not installed here: install it "
                           "from an offline bundle built with `--with-ray` (see "
                           "packaging/AIR-GAPPED.md), or run with --backend local") from exc
    return ray


def check_head_answers(address: str) -> None:
    """Refuse at once a head address nothing listens on: Ray itself would retry for many
    minutes. `auto` (the head started on this machine) is left to Ray."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SafeVetError(f"--ray-address {address!r}: expected HOST:PORT (the head's "
                           f"`ray start --head --port`), or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=HEAD_CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise SafeVetError(f"no Ray head answers at {address} ({exc}); start it with "
                           f"`ray start --head --port {port}` there") from None


@contextmanager
def ray_session(backend: Backend) -> Iterator[object]:
    """Ray connected for the length of a run; a connection made here is closed here, one
    the caller already had (a test's cluster, a notebook) is left as it was."""
    if backend.address:
        check_head_answers(backend.address)
    saved = {k: os.environ.get(k) for k in LOOPBACK_ONLY}
    ray = import_ray(loopback_only=not backend.address)
    if ray.is_initialized():
        _restore(saved)
        yield ray
        return
    kwargs: dict[str, object] = {"log_to_driver": False, "logging_level": "WARNING"}
    try:
        if backend.address:
            ray.init(address=backend.address, **kwargs)
        else:
            # address="local": a new Ray, never one `ray start` left running on this machine.
            ray.init(address="local", include_dashboard=backend.dashboard,
                     _node_ip_address=LOOPBACK, num_cpus=os.cpu_count() or 1, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        _restore(saved)
        where = backend.address or "a private single-machine Ray"
        raise SafeVetError(f"could not start or join Ray at {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
        _restore(saved)


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
