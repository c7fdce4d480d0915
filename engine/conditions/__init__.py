"""The six deployment conditions of SaFE-Scale, one small module each, listed in
engine.conditions.registry.

`build_mcq_prompt` / `build_open_prompt` turn (condition, item, model, corpus,
settings) into the exact prompt sent and a record of what was added. Where the
model itself searches for the evidence (agentic RAG), `search_many` runs many
items' searches in batches first and the builders take each item's outcome.
"""
from __future__ import annotations

from engine.conditions import registry
from engine.conditions.compute import majority_vote, permute_options
from engine.conditions.open_items import build_open
from engine.conditions.agentic_rag import SearchOutcome
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.standard_rag import require_corpus
from engine.suites.schema import McqItem, OpenItem

CONDITIONS = registry.names()


def searches_with_model(condition: str, item: McqItem | OpenItem,
                        settings: ConditionSettings) -> bool:
    """Whether building `item`'s prompt under `condition` makes model calls to search."""
    spec = registry.condition(condition)
    return spec.model_search is not None and (isinstance(item, McqItem)
                                              or settings.open_items_under_rag)


def search_many(condition: str, items: list[McqItem | OpenItem], model, corpus,
                settings: ConditionSettings) -> list[SearchOutcome]:
    """The model-driven searches of `items` (all of which `searches_with_model`), batched."""
    spec = registry.model_search_of(condition)
    corpus = require_corpus(corpus, condition)
    return spec.search_many([spec.task(i) for i in items], model, corpus, settings)


def build_mcq_prompt(condition: str, item: McqItem, model, corpus,
                     settings: ConditionSettings | None = None,
                     found: SearchOutcome | None = None) -> PromptPlan:
    settings = settings or ConditionSettings()
    if found is not None:
        return registry.model_search_of(condition).build_found(item, model, settings, found)
    return registry.condition(condition).build_mcq(item, model, corpus, settings)


def build_open_prompt(condition: str, item: OpenItem, model, corpus,
                      settings: ConditionSettings | None = None,
                      found: SearchOutcome | None = None) -> PromptPlan:
    return build_open(registry.condition(condition), item, model, corpus,
                      settings or ConditionSettings(), found)


__all__ = ["CONDITIONS", "ConditionSettings", "PromptPlan", "SearchOutcome",
           "build_mcq_prompt", "build_open_prompt", "search_many", "searches_with_model", "permute_options", "majority_vote", "registry"]
