"""Run profiles: how much of the work a run does, stated on every report cover.

`full` runs every item under every condition with the model's whole context
window. `demo` keeps the same items and conditions but caps the costly knobs
(max_context window, generation lengths, agentic steps) so the demo finishes
in minutes on two CPU cores; the caps are recorded with the run.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from engine.conditions.settings import ConditionSettings
from engine.metrics.types import DEFAULT_TAU


class RunSettings(ConditionSettings):
    """Everything besides models/suites/conditions that changes what a run measures.

    It *is* the conditions' settings plus the run's own knobs, so every setting
    that shapes a prompt (system prompt, answer budgets, agentic k, max-context
    candidates) is stored with the run and can be set by a profile, and the
    executor hands it to the conditions whole instead of copying fields.
    """

    tau: float = Field(DEFAULT_TAU, description="confidence threshold of dangerous overconfidence")
    open_max_new_tokens: int = 160
    permutations: bool = False
    samples: int = 0
    sample_temperature: float = 0.7
    compute_conditions: list[str] = Field(
        default_factory=lambda: ["closed_book", "clean_evidence"],
        description="conditions where permutations / samples are spent")
    batch_size: int = 8
    generation_batch_size: int = Field(
        16, description="open answers, agentic search turns and samples decoded together")
    item_limit: int | None = Field(None, description="first N items per suite (smoke runs)")
    package_calls: int = Field(
        32, ge=1, description="calls in one work package: consecutive batches run in order "
                              "from a fresh prefix cache, by the local loop or one Ray replica")


class Profile(BaseModel):
    name: str
    description: str
    settings: RunSettings


PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full",
        description="Every item, every condition, the model's full context window, "
                    "160-token open-ended answers, up to 3 agentic search steps.",
        settings=RunSettings(permutations=True)),
    "demo": Profile(
        name="demo",
        description="Demo profile: every item under every condition, with the costly knobs "
                    "capped so two candidates finish in minutes on two CPU cores: standard "
                    "RAG top-3 chunks (full: 4), max_context window capped at 768 tokens, "
                    "agentic RAG at most 2 searches with 16-token queries, open-ended answers "
                    "capped at 40 new tokens, option permutations on closed-book only, no "
                    "sampling.",
        settings=RunSettings(rag_k=3, max_context_tokens=768, open_max_new_tokens=40,
                             agentic_max_steps=2, agentic_query_tokens=16, permutations=True,
                             compute_conditions=["closed_book"])),
    "smoke": Profile(
        name="smoke",
        description="Smoke profile: the first 4 items of each suite only, capped windows; "
                    "for checking an installation, not for a verdict.",
        settings=RunSettings(max_context_tokens=512, open_max_new_tokens=24,
                             agentic_max_steps=1, agentic_query_tokens=16, item_limit=4)),
}


def get_profile(name: str) -> Profile:
    from engine.errors import SafeVetError
    try:
        return PROFILES[name]
    except KeyError:
        raise SafeVetError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
