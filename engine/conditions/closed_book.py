"""closed_book: the question and its options, nothing else (zero-shot)."""
from __future__ import annotations

from engine.conditions.base import mcq_plan
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel
from engine.suites.schema import McqItem


def build(item: McqItem, model: PromptModel, corpus, settings: ConditionSettings) -> PromptPlan:
    return mcq_plan("closed_book", item, model, settings, [])
