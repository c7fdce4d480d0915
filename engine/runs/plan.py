"""What a run is: its configuration (stored with it) and the units of work it implies.

The plan is derived from the stored config alone, so a resumed run rebuilds
exactly the same list of units and skips the ones the store already holds.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from pydantic import BaseModel, Field, model_validator

from engine.conditions import registry
from engine.conditions.registry import OpenItems
from engine.errors import SafeVetError
from engine.runs.profiles import RunSettings
from engine.runs.variants import PRIMARY, Variant
from engine.suites.schema import McqItem, OpenItem, Suite



class SuiteRef(BaseModel):
    id: str
    version: str | None = None
    sha256: str = ""       # empty only in records older than the hash check
    path: str = ""
    demonstration: bool = False
    item_count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _older_spellings(cls, value: Any) -> Any:
        """Older records wrote a suite as "id@version", or its hash as items_sha256."""
        if isinstance(value, str):
            sid, _, version = value.partition("@")
            return {"id": sid, "version": version or None}
        if isinstance(value, dict) and "items_sha256" in value and "sha256" not in value:
            value = {**value, "sha256": value["items_sha256"] or ""}
            value.pop("items_sha256")
        return value


class RunConfig(BaseModel):
    """Stored as the run's config_json; the report cover is written from it.

    Every field has a default so a record written by an older SafeVet (or by a
    test that only needs calls) still reads; `create_run` always writes all.
    """

    models: list[str] = Field(default_factory=list)
    suites: list[SuiteRef] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    profile: str = ""
    profile_description: str = ""
    settings: RunSettings = Field(default_factory=RunSettings)
    corpus: str | None = None


@dataclass(frozen=True)
class WorkUnit:
    """One model call to make: the store's unique key plus what to build it from."""

    model: str
    suite: Suite
    item: McqItem | OpenItem
    condition: str
    variant: Variant = PRIMARY

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.model, self.suite.id, self.item.id, self.condition, str(self.variant))


def parse_conditions(spec: str | list[str]) -> list[str]:
    known = registry.names()
    names = list(known) if spec in ("all", ["all"]) else (
        [c.strip() for c in spec.split(",") if c.strip()] if isinstance(spec, str) else spec)
    unknown = [c for c in names if c not in known]
    if unknown:
        raise SafeVetError(f"unknown condition(s) {', '.join(unknown)}; choose from "
                           f"{', '.join(known)} or 'all'")
    return names


def open_item_conditions(conditions: list[str], settings: RunSettings) -> list[str]:
    """Open prompts have no evidence passages: they run as plain chat turns
    (recorded under closed_book), and under the retrieval conditions only when asked."""
    out = list(registry.names(open_items=OpenItems.PLAIN_TURN)) if conditions else []
    if settings.open_items_under_rag:
        asked = registry.names(open_items=OpenItems.RETRIEVED_IF_ASKED)
        out += [c for c in conditions if c in asked]
    return out


def mcq_variants(item: McqItem, condition: str, settings: RunSettings) -> list[Variant]:
    variants = [PRIMARY]
    if condition in settings.compute_conditions:
        if settings.permutations:
            variants += [Variant.permutation(s) for s in range(1, len(item.options))]
        variants += [Variant.sample(i) for i in range(settings.samples)]
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
