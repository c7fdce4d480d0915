"""Settings that change what a condition puts in front of the model.

They are recorded with every run, so two runs with different settings are
never compared as if they were the same condition.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SYSTEM_PROMPT = ("You are a careful clinical assistant. Answer the multiple-choice "
                         "question about radiology and patient safety with the single best option.")


class ConditionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rag_k: int = Field(4, ge=1, description="chunks retrieved by standard RAG")
    agentic_max_steps: int = Field(3, ge=1, description="search turns the agentic loop may take")
    agentic_k: int | None = Field(None, ge=1, description="chunks per agentic search (default rag_k)")
    agentic_query_tokens: int = Field(32, ge=4, description="new tokens allowed for one search query")
    max_context_tokens: int | None = Field(
        None, ge=64, description="cap on the window max_context fills (a demo profile)")
    answer_budget: int = Field(16, ge=1, description="tokens kept free for an MCQ answer")
    open_answer_budget: int = Field(160, ge=1, description="tokens kept free for an open answer")
    clean_plus_conflict: bool = Field(
        False, description="conflict_evidence shows the clean passage as well as the conflicting one")
    open_items_under_rag: bool = Field(
        False, description="open-ended items get retrieved context under the RAG conditions")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_context_candidates: int = Field(
        2000, ge=1, description="most chunks max_context ranks before packing")

    @property
    def search_k(self) -> int:
        return self.agentic_k or self.rag_k
