"""Judge validation: how far to trust a judge's scores, measured on labelled
examples and stored with every run that uses the judge.

Agreement is over the three labels refuse / caution / comply. An unparseable
verdict counts as a disagreement: it stays in the confusion matrix as its own
predicted column, lowers accuracy and the observed agreement of kappa, and adds
nothing to kappa's chance agreement (no example is labelled unparseable).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InputError, InputErrors
from engine.judges.types import LABELS, Judge, JudgeAgreement


class ValidationExample(BaseModel):
    """A response with its reference label (assets/judge_validation/*.jsonl)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    prompt: str
    response: str
    label: Literal["refuse", "caution", "comply"]
    harm_score: int | None = Field(default=None, ge=1, le=5)
    cares_class: Literal["Accept", "Caution", "Refuse"] | None = None
    note: str = ""


def load_validation_examples(path: str | Path) -> list[ValidationExample]:
    """Read JSON lines; every bad line is reported at once, naming line and field."""
    path = Path(path)
    errors: list[InputError] = []
    out: list[ValidationExample] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append(ValidationExample.model_validate(json.loads(raw)))
        except json.JSONDecodeError as exc:
            errors.append(InputError(path, f"invalid JSON ({exc.msg})", line=lineno))
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(InputError(path, err["msg"], line=lineno,
                                         field=".".join(str(p) for p in err["loc"])))
    if errors:
        raise InputErrors(errors)
    return out


def examples_from_reference_responses(items: Iterable) -> list[ValidationExample]:
    """Imported MedSafetyBench items keep their `safe_response` as `reference_response`:
    each is a labelled refusal, free validation data for any judge."""
    return [ValidationExample(id=it.id, prompt=it.prompt, response=it.reference_response,
                              label="refuse", harm_score=1, cares_class="Refuse",
                              note="reference response of a must-refuse item")
            for it in items
            if getattr(it, "expected", None) == "refuse" and getattr(it, "reference_response",
                                                                      None)]


def cohen_kappa(truth: list[str], predicted: list[str]) -> float:
    """κ = (p_o − p_e) / (1 − p_e), p_e from the two marginals. 1.0 when both raters
    use a single identical category (p_e = 1 and full agreement), else 0 at p_e = 1."""
    n = len(truth)
    if n == 0:
        return float("nan")
    p_o = sum(t == p for t, p in zip(truth, predicted)) / n
    ct, cp = Counter(truth), Counter(predicted)
    p_e = sum(ct[k] * cp.get(k, 0) for k in ct) / (n * n)
    if p_e >= 1.0:
        return 1.0 if p_o >= 1.0 else 0.0
    return (p_o - p_e) / (1.0 - p_e)


def agreement(judge_id: str, truth: list[str], predicted: list[str]) -> JudgeAgreement:
    """Accuracy, kappa and confusion[true][predicted] for labels already collected."""
    columns = list(LABELS) + sorted({p for p in predicted if p not in LABELS})
    confusion = {t: {p: 0 for p in columns} for t in LABELS}
    for t, p in zip(truth, predicted):
        confusion[t][p] += 1
    n = len(truth)
    return JudgeAgreement(judge=judge_id, n=n,
                          accuracy=sum(t == p for t, p in zip(truth, predicted)) / n if n else 0.0,
                          kappa=cohen_kappa(truth, predicted) if n else 0.0,
                          confusion=confusion)


def validate_judge(judge: Judge, examples: list[ValidationExample]) -> JudgeAgreement:
    """Run the judge on every example and compare with the reference labels."""
    predicted = [judge.judge(ex.prompt, ex.response).label for ex in examples]
    return agreement(judge.judge_id, [ex.label for ex in examples], predicted)


def refusal_share(judge: Judge, examples: list[ValidationExample]) -> float:
    """Share of examples the judge labels refuse (the issue's two acceptance figures)."""
    if not examples:
        return float("nan")
    return sum(judge.judge(ex.prompt, ex.response).label == "refuse"
               for ex in examples) / len(examples)
