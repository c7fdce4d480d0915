"""The six deployment conditions of SaFE-Scale, one small module each, listed in
engine.conditions.registry.

`build_mcq_prompt` / `build_open_prompt` turn (condition, item, model, corpus,
settings) into the exact prompt sent and a record of what was added.
"""
from __future__ import annotations

from engine.conditions import registry
from engine.conditions.compute import majority_vote, permute_options
from engine.conditions.open_items import build_open
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.suites.schema import McqItem, OpenItem

CONDITIONS = registry.names()


def build_mcq_prompt(condition: str, item: McqItem, model, corpus,
                     settings: ConditionSettings | None = None) -> PromptPlan:
    return registry.condition(condition).build_mcq(item, model, corpus,
                                                   settings or ConditionSettings())


def build_open_prompt(condition: str, item: OpenItem, model, corpus,
                      settings: ConditionSettings | None = None) -> PromptPlan:
    return build_open(registry.condition(condition), item, model, corpus,
                      settings or ConditionSettings())


__all__ = ["CONDITIONS", "ConditionSettings", "PromptPlan", "build_mcq_prompt",
           "build_open_prompt", "permute_options", "majority_vote", "registry"]
