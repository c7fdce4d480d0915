"""Which engine executes a run's work units: the local loop (default) or a Ray cluster.

The one vocabulary of backends, read by the CLI (`--backend`), the desktop Run
page and the executor. Either way the driver process is the results store's
only writer, so the choice changes where model calls run, never what is stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from engine.errors import SafeVetError

BackendName = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
BACKEND_LABELS: dict[str, str] = {
    "local": "Local (this machine)",
    "ray": "Ray cluster",
}


@dataclass(frozen=True)
class Backend:
    """How to execute a run. `address` is a Ray cluster's head (`host:port`, or `auto` for
    the cluster started on this machine with `ray start --head`); None starts a private
    single-machine Ray for this run. `dashboard` turns Ray's dashboard on (off by default:
    it opens a web port)."""

    name: BackendName = "local"
    address: str | None = None
    dashboard: bool = False
    # CPU slots a replica takes where the node has no GPU (its onnxruntime thread count).
    cpus_per_replica: int = 1

    @classmethod
    def parse(cls, name: str, address: str | None = None, dashboard: bool = False,
              cpus_per_replica: int = 1) -> "Backend":
        """The backend a front end names; a clear error for anything else."""
        if name not in BACKENDS:
            raise SafeVetError(f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}")
        if name == "local" and (address or dashboard):
            raise SafeVetError("--ray-address and --ray-dashboard need --backend ray")
        if cpus_per_replica < 1:
            raise SafeVetError(f"CPUs per replica must be at least 1, not {cpus_per_replica}")
        return cls(name=name,  # type: ignore[arg-type]
                   address=address or None, dashboard=dashboard,
                   cpus_per_replica=cpus_per_replica)


LOCAL = Backend()
