"""Everything one report shows, gathered once, so layout and manifest cannot disagree.

Gathering reads defensively: a run recorded by an older SafeVet, or a model
removed from the workspace since the run, gives "not recorded" / "not
available" lines on the cover instead of stopping the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from engine.compare.types import CandidateComparison
from engine.judges.concordance import JudgePair
from engine.metrics.types import RunMetrics
from engine.figures import MetricParams
from engine.runs.plan import RunConfig
from engine.runs.records import ModelEnvironment, RunEnvironment, RunRecord
from engine.report.thresholds import ThresholdResult, ThresholdSet, Verdict
from engine.suites.schema import Suite

NOT_RECORDED = "not recorded"


@dataclass
class SuiteInfo:
    """A suite as the cover states it: identity, hash, and how much of it this run covered."""

    id: str
    name: str
    version: str
    items_sha256: str
    item_count: int
    items_run: int
    demonstration: bool
    license: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReportContext:
    run: RunRecord
    model: str
    metrics: RunMetrics
    params: MetricParams
    thresholds: ThresholdSet
    results: list[ThresholdResult]
    overall: Verdict
    suites: list[SuiteInfo] = field(default_factory=list)
    model_manifest: dict[str, Any] | None = None
    model_manifest_note: str = ""
    corpus: dict[str, Any] | None = None
    corpus_note: str = ""
    software: dict[str, str] = field(default_factory=dict)
    generated_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    signer: str = ""
    organisation: str = ""
    manifest_sha256: str = ""
    item_options: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    suite_changelogs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stewardship: list[dict[str, Any]] = field(default_factory=list)
    # Where several judges scored the run: their agreement with each other (per pair).
    judge_pairs: list[JudgePair] = field(default_factory=list)
    # `report --compare-with A`: this model against A on the same items (engine.compare).
    comparison: CandidateComparison | None = None

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def config(self) -> RunConfig:
        return self.run.config

    @property
    def environment(self) -> RunEnvironment:
        return self.run.environment

    @property
    def profile(self) -> str:
        return self.run.profile or self.config.profile or NOT_RECORDED

    @property
    def conditions_run(self) -> list[str]:
        measured = {c.condition for c in self.metrics.mcq} | {c.condition for c in self.metrics.open}
        planned = list(self.config.conditions)
        return planned + sorted(measured - set(planned))

    @property
    def _model_environment(self) -> ModelEnvironment | None:
        return self.environment.models.get(self.model)

    @property
    def execution_provider(self) -> str:
        """The provider, and where recorded the GPU it ran on and the onnxruntime build
        (a committee must know which device and runtime gave the figures)."""
        env_model = self._model_environment
        tp = self.throughput
        provider = str((env_model.execution_provider if env_model else None)
                       or tp.get("execution_provider") or NOT_RECORDED)
        session = self.session_info
        if session.get("device"):
            provider += f" on {session['device']}"
        if session.get("onnxruntime_package"):
            provider += f" ({session['onnxruntime_package']})"
        return provider

    @property
    def session_info(self) -> dict[str, Any]:
        """How onnxruntime ran this model (threads, scoring head, attention), as recorded."""
        env_model = self._model_environment
        return dict(env_model.session) if env_model else {}

    @property
    def throughput(self) -> dict[str, Any]:
        """The run's own meter (summary) first, then what metrics derived from the calls."""
        meter = self.run.throughput_of(self.model)
        summary = meter.model_dump() if meter else {}
        derived = self.metrics.throughput.get(self.model) or {}
        return {**{f"calls_{k}": v for k, v in derived.items()}, **summary}

    @property
    def generation_by_kind(self) -> str:
        """Generation throughput per kind of call (open answers, search turns, samples),
        from the run's own meter; '' where the run recorded no such split."""
        meter = self.run.throughput_of(self.model)
        return meter.generation_text() if meter else ""

    @property
    def reduced_profile(self) -> bool:
        """True when the run did less than the full suites: the cover must say so."""
        return self.profile != "full" or any(s.items_run < s.item_count for s in self.suites) \
            or any(s.demonstration for s in self.suites)


def suite_infos(suites: dict[str, Suite], run: RunRecord,
                items_run: dict[str, int]) -> list[SuiteInfo]:
    out = []
    refs = {r.id: r for r in run.config.suites}
    for sid, s in sorted(suites.items()):
        m = s.manifest
        out.append(SuiteInfo(id=sid, name=m.name, version=m.version, items_sha256=m.items_sha256,
                             item_count=len(s.active_items()), items_run=items_run.get(sid, 0),
                             demonstration=bool(m.demonstration or
                                                (sid in refs and refs[sid].demonstration)),
                             license=m.license, source=m.source))
    return out
