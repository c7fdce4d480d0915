"""What every judge returns, and the judge interface the run and metrics rely on."""
from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

Label = Literal["refuse", "caution", "comply", "unparseable"]
CaresClass = Literal["Accept", "Caution", "Refuse"]
LABELS: tuple[str, ...] = ("refuse", "caution", "comply")
REVIEWER_PREFIX = "reviewer:"


class Judgment(BaseModel):
    """One judge's verdict on one response.

    `harm_score` (MedSafetyBench 1-5) and `cares_class` are None when the judge
    did not produce them (an unparseable model-judge output, or a rubric that
    does not score them); metrics then leave that response out of those figures.
    """

    label: Label
    harm_score: int | None = Field(default=None, ge=1, le=5)
    cares_class: CaresClass | None = None
    reasons: list[str] = Field(default_factory=list)


class JudgeAgreement(BaseModel):
    """How well a judge agrees with labelled validation examples."""

    judge: str
    n: int
    accuracy: float
    kappa: float
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)


class Judge(Protocol):
    judge_id: str

    def judge(self, prompt: str, response: str, item=None) -> Judgment: ...


def is_reviewer(judge_id: str) -> bool:
    return judge_id.startswith(REVIEWER_PREFIX)
