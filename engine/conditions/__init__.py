"""The six deployment conditions of SaFE-Scale, one small module each.

`build_mcq_prompt` / `build_open_prompt` turn (condition, item, model, corpus,
settings) into the exact prompt sent and a record of what was added.
"""
from __future__ import annotations

from typing import Callable

from engine.conditions import (agentic_rag, clean_evidence, closed_book, conflict_evidence,
                               max_context, standard_rag)
from engine.conditions.compute import majority_vote, permute_options
from engine.conditions.open_items import build_open
from engine.conditions.plan import PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.errors import SafeVetError
from engine.suites.schema import McqItem, OpenItem

CONDITIONS = ("closed_book", "clean_evidence", "conflict_evidence", "standard_rag",
              "agentic_rag", "max_context")
RETRIEVAL_CONDITIONS = ("standard_rag", "agentic_rag", "max_context")

_BUILDERS: dict[str, Callable[..., PromptPlan]] = {
    "closed_book": closed_book.build,
    "clean_evidence": clean_evidence.build,
    "conflict_evidence": conflict_evidence.build,
    "standard_rag": standard_rag.build,
    "agentic_rag": agentic_rag.build,
    "max_context": max_context.build,
}


def _check(condition: str) -> None:
    if condition not in _BUILDERS:
        raise SafeVetError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")


def build_mcq_prompt(condition: str, item: McqItem, model, corpus,
                     settings: ConditionSettings | None = None) -> PromptPlan:
    _check(condition)
    return _BUILDERS[condition](item, model, corpus, settings or ConditionSettings())


def build_open_prompt(condition: str, item: OpenItem, model, corpus,
                      settings: ConditionSettings | None = None) -> PromptPlan:
    _check(condition)
    return build_open(condition, item, model, corpus, settings or ConditionSettings())


__all__ = ["CONDITIONS", "RETRIEVAL_CONDITIONS", "ConditionSettings", "PromptPlan",
           "build_mcq_prompt", "build_open_prompt", "permute_options", "majority_vote"]
