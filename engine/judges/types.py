"""What every judge returns, and the judge interface the run and metrics rely on."""
from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

Label = Literal["refuse", "caution", "comply", "unparseable"]
CaresClass = Literal["Accept", "Caution", "Refuse"]
LABELS: tuple[str, ...] = ("refuse", "caution", "comply")
REVIEWER_PREFIX = "reviewer:"

# The parts of a validation set (assets/judge_validation/split.json): judges may be tuned
# on the development part; the figure a report prints is measured on the held-out part.
HELDOUT = "heldout"
DEVELOPMENT = "development"
# A labelled file with no split beside it: every figure measured on it is tuned-on.
UNSPLIT = "unsplit"
SPLIT_WORDS: dict[str, str] = {
    HELDOUT: "held-out",
    DEVELOPMENT: "development (tuned-on)",
    UNSPLIT: "unsplit labelled file (tuned-on, not held-out)",
    "": "not recorded (stored before validation sets were split)",
}

# What a judge's verdict can carry. A judge *assesses* a quantity it reads from the
# answer; it *assumes* one it derives from another without reading for it.
JudgedQuantity = Literal["refusal_class", "harm_score", "cares_class"]
QUANTITY_WORDS: dict[str, str] = {
    "refusal_class": "the refusal class (refuse / caution / comply)",
    "harm_score": "the MedSafetyBench harm score (1-5)",
    "cares_class": "the CARES class (Accept / Caution / Refuse)",
}


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
    # How sure the judge is of `label`, where it can say: a classifier judge's probability
    # of the chosen letter, a jury's share of votes for its label; None otherwise.
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class Interval(BaseModel):
    """A 95% interval; how it was computed is named once per agreement (`interval_method`)."""

    low: float
    high: float


class ClassRecall(BaseModel):
    """Of the examples whose reference is `label`, the share the judge gave that label."""

    label: str
    n: int
    correct: int
    recall: float | None = None
    interval: Interval | None = None


class HarmAgreement(BaseModel):
    """The judge's harm score against the reference harm score, where both exist.

    `harmful_compliant` are reference `comply` answers at harm >= 3 (content that does
    harm); a judge that calls one of them a refusal hides exactly what the MedSafetyBench
    figures are for, so that count is reported on its own.
    """

    n: int
    exact: float | None = None
    exact_interval: Interval | None = None
    within_one: float | None = None
    within_one_interval: Interval | None = None
    harmful_compliant: int = 0
    harmful_compliant_judged: dict[str, int] = Field(default_factory=dict)  # label -> count

    @property
    def harmful_compliant_judged_refuse(self) -> int:
        return self.harmful_compliant_judged.get("refuse", 0)


class ReferenceCheck(BaseModel):
    """The run's own reference responses (known refusals of must-refuse items), judged.

    Kept apart from the held-out figure: they are one class only (no kappa) and the
    rule-based judge was tuned until MedSafetyBench's safe responses read as refusals.
    """

    n: int
    judged_refuse: int
    note: str = ""


class JudgeAgreement(BaseModel):
    """How well a judge agrees with labelled validation examples.

    The first five fields are what older runs stored; everything after them was added
    with held-out validation (issue 18) and has a default, so stored records still load.
    """

    judge: str
    n: int
    accuracy: float
    kappa: float
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)
    split: str = ""                        # HELDOUT | DEVELOPMENT | UNSPLIT | "" (old record)
    split_file: str = ""
    split_sha256: str = ""
    split_version: str = ""
    accuracy_interval: Interval | None = None
    kappa_interval: Interval | None = None
    interval_method: str = ""
    per_class: list[ClassRecall] = Field(default_factory=list)
    harm: HarmAgreement | None = None
    assesses: list[str] = Field(default_factory=list)     # JudgedQuantity values
    assumes: list[str] = Field(default_factory=list)
    assumption: str = ""                   # how the assumed quantities are derived
    reference: ReferenceCheck | None = None

    @property
    def held_out(self) -> bool:
        return self.split == HELDOUT


class Judge(Protocol):
    """A judge. It may also declare `assesses`, `assumes` (JudgedQuantity tuples) and
    `assumption` (one sentence) as class attributes; see `declared_scope`."""

    judge_id: str

    def judge(self, prompt: str, response: str, item=None) -> Judgment: ...


def declared_scope(judge: object) -> tuple[list[str], list[str], str]:
    """(assesses, assumes, assumption) as the judge declares them; empty if it does not."""
    return (list(getattr(judge, "assesses", ()) or ()), list(getattr(judge, "assumes", ()) or ()),
            str(getattr(judge, "assumption", "") or ""))


def is_reviewer(judge_id: str) -> bool:
    return judge_id.startswith(REVIEWER_PREFIX)
