"""clean_evidence: the item's clinician-written supporting passage.

An item without one is still built (as closed-book) but flagged, so a report
can exclude it rather than count a closed-book answer as an evidence answer.
"""
from __future__ import annotations

from engine.conditions.base import mcq_plan
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel
from engine.suites.schema import McqItem


def build(item: McqItem, model: PromptModel, corpus, settings: ConditionSettings) -> PromptPlan:
    passages = [item.clean_evidence] if item.clean_evidence.strip() else []
    return mcq_plan("clean_evidence", item, model, settings, passages,
                    sources=["clean_evidence"] if passages else [],
                    missing_evidence=not passages)
