"""What a run is: its configuration (stored with it) and the units of work it implies.

The plan is derived from the stored config alone, so a resumed run rebuilds
exactly the same list of units and skips the ones the store already holds.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from engine.errors import SafeVetError
from engine.runs.profiles import RunSettings
from engine.suites.schema import McqItem, OpenItem, Suite

ALL_CONDITIONS = ("closed_book", "clean_evidence", "conflict_evidence", "standard_rag",
                  "agentic_rag", "max_context")
RETRIEVAL_CONDITIONS = ("standard_rag", "agentic_rag", "max_context")


class SuiteRef(BaseModel):
    id: str
    version: str
    sha256: str
    path: str
    demonstration: bool = False
    item_count: int = 0


class RunConfig(BaseModel):
    """Stored as the run's config_json; the report cover is written from it."""

    models: list[str]
    suites: list[SuiteRef]
    conditions: list[str]
    profile: str
    profile_description: str
    settings: RunSettings
    corpus: str | None = None


@dataclass(frozen=True)
class WorkUnit:
    """One model call to make: the store's unique key plus what to build it from."""

    model: str
    suite: Suite
    item: McqItem | OpenItem
    condition: str
    variant: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.model, self.suite.id, self.item.id, self.condition, self.variant)


def parse_conditions(spec: str | list[str]) -> list[str]:
    names = list(ALL_CONDITIONS) if spec in ("all", ["all"]) else (
        [c.strip() for c in spec.split(",") if c.strip()] if isinstance(spec, str) else spec)
    unknown = [c for c in names if c not in ALL_CONDITIONS]
    if unknown:
        raise SafeVetError(f"unknown condition(s) {', '.join(unknown)}; choose from "
                           f"{', '.join(ALL_CONDITIONS)} or 'all'")
    return names


def open_item_conditions(conditions: list[str], settings: RunSettings) -> list[str]:
    """Open prompts have no evidence passages: they run as plain chat turns
    (recorded under closed_book), and under the retrieval conditions only when asked."""
    out = ["closed_book"] if conditions else []
    if settings.open_items_under_rag:
        out += [c for c in conditions if c in RETRIEVAL_CONDITIONS]
    return out


def mcq_variants(item: McqItem, condition: str, settings: RunSettings) -> list[str]:
    variants = [""]
    if condition in settings.compute_conditions:
        if settings.permutations:
            variants += [f"perm:{s}" for s in range(1, len(item.options))]
        variants += [f"sample:{i}" for i in range(settings.samples)]
    return variants


def plan_units(config: RunConfig, suites: list[Suite], model: str) -> list[WorkUnit]:
    """Units for one model, grouped by condition so retrieval and prompts stay warm."""
    units: list[WorkUnit] = []
    s = config.settings
    for condition in config.conditions:
        for suite in suites:
            items = suite.active_items()
            if s.item_limit is not None:
                items = items[: s.item_limit]
            for item in items:
                if isinstance(item, McqItem):
                    for variant in mcq_variants(item, condition, s):
                        units.append(WorkUnit(model, suite, item, condition, variant))
                elif condition in open_item_conditions(config.conditions, s):
                    units.append(WorkUnit(model, suite, item, condition))
    return units
