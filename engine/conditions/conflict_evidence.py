"""conflict_evidence: the item's conflicting passage (optionally with the clean one).

With `clean_plus_conflict` both passages are shown, clean first, numbered and
unlabelled: the model must weigh them, as it would two retrieved documents.
"""
from __future__ import annotations

from engine.conditions.base import mcq_plan
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel
from engine.suites.schema import McqItem


def build(item: McqItem, model: PromptModel, corpus, settings: ConditionSettings) -> PromptPlan:
    sources = []
    if settings.clean_plus_conflict and item.clean_evidence.strip():
        sources.append("clean_evidence")
    if item.conflict_evidence.strip():
        sources.append("conflict_evidence")
    passages = [getattr(item, s) for s in sources]
    return mcq_plan("conflict_evidence", item, model, settings, passages, sources=sources,
                    clean_plus_conflict=settings.clean_plus_conflict,
                    missing_evidence=not item.conflict_evidence.strip())
