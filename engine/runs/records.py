"""A run as the results store holds it: typed, so no reader digs through nested dicts.

`RunRecord` is what `ResultsStore.get_run` returns. Its config, environment
and summary are parsed once, here, with defaults for what older records did
not store, so the report, the CLI, the desktop and `verify` all read the same
fields the same way (`run.config.settings.tau`, not
`(r.get("config") or {}).get(...)`).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.runs.plan import RunConfig

RunStatus = Literal["planned", "running", "interrupted", "completed", "failed"]
FINISHED_STATUSES: tuple[RunStatus, ...] = ("completed", "failed", "interrupted")


class ModelEnvironment(BaseModel):
    """How one candidate was run: the execution provider and onnxruntime's session."""

    execution_provider: str
    provider_notice: str | None = None
    # What the session reports about itself (threads, scoring head, attention): open-ended
    # by design, since it names whatever the runtime chose on this machine.
    session: dict[str, Any] = Field(default_factory=dict)


class RunEnvironment(BaseModel):
    """The machine and software a run used; `models` fills in as each model loads."""

    host: dict[str, Any] = Field(default_factory=dict)
    software: dict[str, str] = Field(default_factory=dict)
    models: dict[str, ModelEnvironment] = Field(default_factory=dict)


# What a run generates text for, each metered apart: open-ended answers are the figure
# issue 16 targets, while an agentic search turn is mostly prefill of a long prompt for a
# few tokens and would hide it in one mixed tokens/s.
GenerationKind = Literal["open", "search", "sample"]
GENERATION_KINDS: dict[GenerationKind, str] = {
    "open": "open-ended answers", "search": "agentic search turns",
    "sample": "sampled MCQ answers"}


class GenerationShare(BaseModel):
    """Tokens generated for one kind of call and the wall seconds they took."""

    tokens: int = 0
    seconds: float = 0.0
    tokens_per_second: float | None = None


class ModelThroughput(BaseModel):
    """The run's own meter for one model: time in scoring vs generation."""

    execution_provider: str
    scored_items: int = 0
    items_per_second: float | None = None
    generated_tokens: int = 0
    tokens_per_second: float | None = None
    prompt_tokens: int = 0
    # Wall seconds in each kind of model call (agentic searches count with the call they
    # built a prompt for); the rest of a model's time is loading, retrieval and storing.
    score_seconds: float | None = None
    generate_seconds: float | None = None
    generation_by_kind: dict[GenerationKind, GenerationShare] = Field(default_factory=dict)

    def generation_text(self) -> str:
        """Generation throughput per kind of call, as every surface prints it; '' for a
        run that recorded none (older runs metered generation as one figure)."""
        parts = []
        for kind, share in self.generation_by_kind.items():
            rate = (f"{share.tokens_per_second:.1f} tok/s" if share.tokens_per_second
                    is not None else "no time metered")
            parts.append(f"{GENERATION_KINDS[kind]} {rate} ({share.tokens:,} tokens in "
                         f"{share.seconds:.1f} s)")
        return "; ".join(parts)


class NodeThroughput(BaseModel):
    """One Ray node's share of a run (its replicas' batches, all models together)."""

    node: str                     # Ray node id (first 12 hex digits) and address
    execution_provider: str
    replicas: int = 0
    calls: int = 0
    busy_seconds: float = 0.0     # wall seconds its replicas spent inside batches
    calls_per_second: float | None = None


class RunSummary(BaseModel):
    """What is only known at the end (or as each model finishes)."""

    throughput: dict[str, ModelThroughput] = Field(default_factory=dict)
    failure: str | None = None     # why the run is `failed`: too many calls errored
    # Where the calls ran, each backend that executed part of the run in order ("local",
    # "ray"), with the Ray nodes that ran them; a batch whose replica died is run again
    # (its calls were never stored) and counted here.
    backends: list[str] = Field(default_factory=list)
    retried_packages: int = 0      # work packages (a few batches each) run again
    retried_units: int = 0
    nodes: dict[str, NodeThroughput] = Field(default_factory=dict)


class RunRecord(BaseModel):
    """One row of the runs table, fields in the table's column order."""

    id: str
    created_at: str
    finished_at: str | None = None
    status: RunStatus
    profile: str
    operator: str
    config: RunConfig
    environment: RunEnvironment = Field(default_factory=RunEnvironment)
    summary: RunSummary | None = None

    @property
    def models(self) -> list[str]:
        return list(self.config.models)

    def throughput_of(self, model: str) -> ModelThroughput | None:
        return self.summary.throughput.get(model) if self.summary else None
