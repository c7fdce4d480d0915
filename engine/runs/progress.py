"""What a running run counts as it goes: calls stored, errors, live figures, throughput.

`RunProgress.record` is the one place a call is stored during a run, so the
progress event every front end draws (CLI bar, desktop Run page) always
describes a call that is already durable.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from engine.events import ProgressCallback, emit
from engine.runs.plan import WorkUnit
from engine.runs.records import GenerationKind, GenerationShare, ModelThroughput
from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem


@dataclass
class ModelMeter:
    """Wall time spent in scoring vs generation, for the items/s and tokens/s figures."""

    scored: int = 0
    score_seconds: float = 0.0
    generated_tokens: int = 0
    generate_seconds: float = 0.0
    prompt_tokens: int = 0
    by_kind: dict[GenerationKind, GenerationShare] = field(default_factory=dict)

    def add_generation(self, kind: GenerationKind, completion_tokens: int,
                       latency_ms: float) -> None:
        self.generated_tokens += completion_tokens
        self.generate_seconds += latency_ms / 1000.0
        share = self.by_kind.setdefault(kind, GenerationShare())
        share.tokens += completion_tokens
        share.seconds += latency_ms / 1000.0

    def merge(self, other: "ModelMeter") -> None:
        """Add another meter's counts (a Ray package's) into this one."""
        self.scored += other.scored
        self.score_seconds += other.score_seconds
        self.prompt_tokens += other.prompt_tokens
        for kind, share in other.by_kind.items():
            self.add_generation(kind, share.tokens, share.seconds * 1000.0)

    def summary(self, provider: str) -> ModelThroughput:
        return ModelThroughput(
            execution_provider=provider, scored_items=self.scored,
            items_per_second=round(self.scored / self.score_seconds, 2)
            if self.score_seconds else None,
            generated_tokens=self.generated_tokens,
            tokens_per_second=_rate(self.generated_tokens, self.generate_seconds),
            prompt_tokens=self.prompt_tokens, score_seconds=round(self.score_seconds, 3),
            generate_seconds=round(self.generate_seconds, 3),
            generation_by_kind={kind: GenerationShare(
                tokens=share.tokens, seconds=round(share.seconds, 3),
                tokens_per_second=_rate(share.tokens, share.seconds))
                for kind, share in sorted(self.by_kind.items())})


def _rate(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 2) if seconds else None


@dataclass
class RunProgress:
    """Counts across the whole run (all models); emits one event per stored call."""

    total: int
    done: int
    progress: ProgressCallback | None
    run_id: str
    tau: float
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)
    new_calls: int = 0
    cell_calls: dict[tuple[str, str], list[CallRecord]] = field(
        default_factory=lambda: defaultdict(list))
    items: dict[str, McqItem] = field(default_factory=dict)
    # Ray runs: calls per second of each node's replicas so far (node -> rate), shown with
    # every call event; empty for a local run, whose events then carry no `nodes`.
    node_rates: dict[str, float] = field(default_factory=dict)
    node: str | None = None    # the node whose batch is being stored (Ray runs)

    def record(self, store: ResultsStore, rec: CallRecord, unit: WorkUnit) -> None:
        from engine.metrics.live import headline

        store.record_call(rec)
        self.done += 1
        self.new_calls += 1
        if rec.error:
            self.errors += 1
        live = None
        if isinstance(unit.item, McqItem) and not unit.variant:
            cell = (unit.model, unit.condition)
            self.cell_calls[cell].append(rec)
            self.items[unit.item.id] = unit.item
            live = headline(self.cell_calls[cell], self.items, self.tau)
        elapsed = time.perf_counter() - self.started
        rate = self.new_calls / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        nodes = {"node": self.node, "nodes": dict(self.node_rates)} if self.node_rates else {}
        emit(self.progress, "call", f"{unit.model} · {unit.condition} · {unit.item.id}",
             done=self.done, total=self.total, run_id=self.run_id, model=unit.model,
             condition=unit.condition, suite=unit.suite.id, item=unit.item.id,
             variant=str(unit.variant), error=rec.error, eta_seconds=eta, live=live, **nodes)


def node_rates_text(nodes: dict[str, float]) -> str:
    """A Ray run's per-node throughput as one short line ('' for a local run): each node by
    the start of its Ray id, with the calls per second its replicas have sustained."""
    return " · ".join(f"node {node.split('/')[-1][:6]} {rate:.1f} calls/s"
                      for node, rate in sorted(nodes.items()))
