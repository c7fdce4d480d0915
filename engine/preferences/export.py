"""Preference data from a run's judged failures, in the row formats TRL reads.

An alignment team turns a vetting run into training data for the next cycle
(KTO or DPO, as in the CARES post-deployment alignment work):

- KTO (TRL KTOTrainer, unpaired): `prompt`, `completion`, `label` (True: desirable).
  Every judged open answer of the model is a row (appropriate -> True; unsafe or
  over-refusing -> False); each failure also gets a True row with the chosen
  response below, where there is one. An MCQ answered with a `high_risk` option
  gives a False row for that option and a True row for the key.
- DPO (TRL DPOTrainer, paired): `prompt`, `chosen`, `rejected`. One row per
  failure that has a chosen response; an MCQ high-risk choice pairs the key
  (chosen) with the option taken (rejected).

Chosen responses, first found: a reviewer's corrected reference response (a
confirmed or applied `edit_evidence` decision on the item), the item's own
reference response, or another candidate's answer in the same run and condition
that a trusted judge found appropriate. Prompts are the user message the model
was given, without the chat template (TRL applies the trainee's own template).

What a row rests on travels with it, in extra columns (TRL and the `datasets`
JSON reader ignore columns they do not use): the item id, suite and version,
condition, the judge whose label it is and that judge's recorded agreement
(κ, accuracy, n, whether held-out, whether it passes the gate). Left out by
default, and counted in the summary: items with an open review decision
(proposed or confirmed, not yet applied: their labels are contested), and
answers judged only by judges below the agreement gate (`min_judge_kappa`).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, Field

from engine.compare.candidates import run_candidates
from engine.compare.outcomes import OpenVerdict, judgments_by_call, open_outcome
from engine.compare.reliance import DEFAULT_MIN_JUDGE_KAPPA, JudgeReliance, reliance
from engine.conditions.template import mcq_user_message, open_user_message
from engine.errors import NotFoundError, SafeVetError
from engine.figures import run_suites_for
from engine.judges.types import JudgeAgreement, REVIEWER_PREFIX
from engine.metrics.mcq import PRIMARY, score_call
from engine.stewardship.review import list_decisions
from engine.store.db import CallRecord, ResultsStore, StoredJudgment
from engine.suites.schema import McqItem, OpenItem, Suite
from engine.workspace import Workspace

PreferenceFormat = Literal["kto", "dpo"]
FORMATS: tuple[str, ...] = ("kto", "dpo")
OPEN_DECISION_STATUSES = ("proposed", "confirmed")
CORRECTION_STATUSES = ("confirmed", "applied")
SUITE_LABELS_JUDGE = "suite option labels"


class RowProvenance(BaseModel):
    """The extra columns every row carries: where it came from and what it rests on."""

    item_id: str
    suite_id: str
    suite_version: str
    kind: Literal["open", "mcq"]
    condition: str
    run_id: str
    model: str
    failure: str                  # unsafe | over_refusal | high_risk_choice | "" (desirable)
    source: str                   # model_answer | reference_response | reviewer_correction |
                                  # candidate:<model> | suite_key | model_choice
    judge: str
    judge_kappa: float | None = None
    judge_kappa_low: float | None = None      # lower bound of κ's 95% interval
    judge_accuracy: float | None = None
    judge_n: int | None = None
    judge_held_out: bool | None = None
    judge_passes_gate: bool = True
    contested: bool = False


class KtoRow(RowProvenance):
    prompt: str
    completion: str
    label: bool


class DpoRow(RowProvenance):
    prompt: str
    chosen: str
    rejected: str


PreferenceRow = Union[KtoRow, DpoRow]
# TRL's column names, first in every row (the provenance columns follow).
TRL_COLUMNS: dict[str, tuple[str, ...]] = {"kto": ("prompt", "completion", "label"),
                                           "dpo": ("prompt", "chosen", "rejected")}


class ExportSummary(BaseModel):
    """What an export wrote and what it left out, and why."""

    run_id: str
    model: str
    format: PreferenceFormat
    out: str
    rows: int
    judge_gate: float
    include_contested: bool
    judges: list[JudgeReliance] = Field(default_factory=list)         # the labels' judges
    judges_below_gate: list[JudgeReliance] = Field(default_factory=list)  # judges not used
    excluded: dict[str, int] = Field(default_factory=dict)   # reason -> answers left out
    sources: dict[str, int] = Field(default_factory=dict)    # chosen/desirable source -> rows


@dataclass(frozen=True)
class _Label:
    """The verdict an answer is exported with, and the judge it rests on."""

    verdict: OpenVerdict
    reliance: JudgeReliance


def _pick_label(rows: dict[str, StoredJudgment], run_id: str, agreements: list[JudgeAgreement],
                gate: float) -> tuple[_Label | None, str]:
    """A reviewer's verdict if any; else the verdict of the best-agreeing judge that passes
    the gate. (None, reason) when the answer is unjudged or only below-gate judges judged."""
    row = rows.get(REVIEWER_PREFIX)
    if row is not None:
        return _Label(verdict=OpenVerdict(row.label, row.score, row.cares_class, row.judge),
                      reliance=reliance(row.judge, run_id, agreements, gate)), ""
    if not rows:
        return None, "unjudged"
    ranked = sorted((reliance(j, run_id, agreements, gate) for j in rows),
                    key=lambda r: (-(r.kappa if r.kappa is not None else -2.0), r.judge))
    best = next((r for r in ranked if r.passes_gate), None)
    if best is None:
        return None, "judged only below the agreement gate"
    j = rows[best.judge]
    return _Label(verdict=OpenVerdict(j.label, j.score, j.cares_class, j.judge),
                  reliance=best), ""


def _judge_columns(rel: JudgeReliance | None) -> dict:
    if rel is None:
        return {"judge": SUITE_LABELS_JUDGE}
    return {"judge": rel.judge, "judge_kappa": rel.kappa, "judge_kappa_low": rel.kappa_low,
            "judge_accuracy": rel.accuracy,
            "judge_n": rel.n if not rel.human else None, "judge_held_out": rel.held_out,
            "judge_passes_gate": rel.passes_gate}


def _contested_items(store: ResultsStore, suites: dict[str, Suite]) -> set[tuple[str, str]]:
    """(suite id, item id) of every item with an open review decision on the run's version."""
    out = set()
    for sid, s in suites.items():
        for d in list_decisions(store, sid, s.version):
            if d.status in OPEN_DECISION_STATUSES:
                out.add((sid, d.item_id))
    return out


def _corrections(store: ResultsStore, suites: dict[str, Suite]) -> dict[tuple[str, str], str]:
    """Reviewers' corrected reference responses on the run's suite versions (latest wins)."""
    out = {}
    for sid, s in suites.items():
        for d in list_decisions(store, sid, s.version):
            text = d.payload.get("reference_response")
            if (d.decision == "edit_evidence" and d.status in CORRECTION_STATUSES
                    and isinstance(text, str) and text.strip()):
                out[(sid, d.item_id)] = text.strip()
    return out


def _evidence(call: CallRecord) -> str:
    value = (call.context or {}).get("evidence_text", "")
    return value if isinstance(value, str) else ""


def _option(item: McqItem, letter: str) -> str:
    return f"{letter}. {item.options[letter]}"


class _Exporter:
    """Walks one model's answers in one run and builds the rows (one export's state)."""

    def __init__(self, store: ResultsStore, ws: Workspace | None, run_id: str, model: str,
                 fmt: PreferenceFormat, gate: float, include_contested: bool) -> None:
        run = store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} is not in the results store {store.path} "
                                f"(see `safevet runs`)")
        models = run_candidates(store, run)
        if model not in models:
            raise NotFoundError(f"model {model!r} is not part of run {run_id} "
                                f"(its models: {', '.join(models) or 'none'})")
        self.store, self.run_id, self.model, self.fmt = store, run_id, model, fmt
        self.gate, self.include_contested = gate, include_contested
        self.tau = run.config.settings.tau
        self.suites = run_suites_for(store, run, ws, model)
        self.agreements = store.judge_validations(run_id)
        self.by_call = judgments_by_call(store.judgments(run_id))
        self.contested = _contested_items(store, self.suites)
        self.corrections = _corrections(store, self.suites)
        self.all_calls = [c for c in store.calls(run_id)
                          if c.variant == PRIMARY and not c.error]
        # Other candidates' answers by (suite, item, condition): where a chosen one is sought.
        self.others: dict[tuple[str, str, str], list[CallRecord]] = {}
        for c in self.all_calls:
            if c.model != model and (c.output_text or "").strip():
                self.others.setdefault((c.suite_id, c.item_id, c.condition), []).append(c)
        self.excluded: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.judges: dict[str, JudgeReliance] = {}
        self.below_gate: dict[str, JudgeReliance] = {}
        self.rows: list[PreferenceRow] = []

    # -- rows -------------------------------------------------------------------------
    def _base(self, call: CallRecord, kind: str, failure: str, source: str,
              rel: JudgeReliance | None) -> dict:
        return {"item_id": call.item_id, "suite_id": call.suite_id,
                "suite_version": call.suite_version, "kind": kind,
                "condition": call.condition, "run_id": self.run_id, "model": self.model,
                "failure": failure, "source": source,
                "contested": (call.suite_id, call.item_id) in self.contested,
                **_judge_columns(rel)}

    def _kto(self, call, kind, failure, source, rel, prompt, completion, label) -> None:
        self.rows.append(KtoRow(prompt=prompt, completion=completion, label=label,
                                **self._base(call, kind, failure, source, rel)))
        self.sources[source] += 1

    def _dpo(self, call, kind, failure, source, rel, prompt, chosen, rejected) -> None:
        self.rows.append(DpoRow(prompt=prompt, chosen=chosen, rejected=rejected,
                                **self._base(call, kind, failure, source, rel)))
        self.sources[source] += 1

    # -- open answers -----------------------------------------------------------------
    def _label(self, call: CallRecord) -> tuple[_Label | None, str]:
        rows = self.by_call.get(call.id, {})
        label, why = _pick_label(rows, self.run_id, self.agreements, self.gate)  # type: ignore
        if label is not None and not label.reliance.human:
            self.judges.setdefault(label.reliance.judge, label.reliance)
        if label is None and rows:
            for judge in rows:
                self.below_gate.setdefault(judge, reliance(judge, self.run_id, self.agreements,
                                                           self.gate))
        return label, why

    def _chosen_open(self, call: CallRecord, item: OpenItem) -> tuple[str, str] | None:
        correction = self.corrections.get((call.suite_id, item.id))
        if correction:
            return correction, "reviewer_correction"
        if item.reference_response and item.reference_response.strip():
            return item.reference_response.strip(), "reference_response"
        for other in self.others.get((call.suite_id, item.id, call.condition), []):
            label, _ = _pick_label(self.by_call.get(other.id, {}),  # type: ignore[arg-type]
                                   self.run_id, self.agreements, self.gate)
            if label is not None and open_outcome(item, label.verdict) == "appropriate":
                return other.output_text.strip(), f"candidate:{other.model}"  # type: ignore
        return None

    def open_answer(self, call: CallRecord, item: OpenItem) -> None:
        label, why = self._label(call)
        if label is None:
            self.excluded[why] += 1
            return
        outcome = open_outcome(item, label.verdict)
        if outcome == "unparseable":
            self.excluded["verdict unparseable"] += 1
            return
        prompt = open_user_message(item.prompt, _evidence(call))
        answer = call.output_text or ""
        rel = label.reliance
        failure = "" if outcome == "appropriate" else outcome
        if self.fmt == "kto":
            self._kto(call, "open", failure, "model_answer", rel, prompt, answer,
                      outcome == "appropriate")
        if not failure:
            return
        chosen = self._chosen_open(call, item)
        if chosen is None:
            if self.fmt == "dpo":
                self.excluded["failure with no chosen response"] += 1
            return
        text, source = chosen
        if self.fmt == "kto":
            self._kto(call, "open", failure, source, rel, prompt, text, True)
        else:
            self._dpo(call, "open", failure, source, rel, prompt, text, answer)

    # -- MCQ --------------------------------------------------------------------------
    def mcq_answer(self, call: CallRecord, item: McqItem) -> None:
        scored = score_call(item, call, self.tau)
        if not scored.high_risk or scored.chosen is None:
            return
        prompt = mcq_user_message(item, _evidence(call))
        key, taken = _option(item, item.answer), _option(item, scored.chosen)
        if self.fmt == "kto":
            self._kto(call, "mcq", "high_risk_choice", "model_choice", None, prompt, taken,
                      False)
            self._kto(call, "mcq", "high_risk_choice", "suite_key", None, prompt, key, True)
        else:
            self._dpo(call, "mcq", "high_risk_choice", "suite_key", None, prompt, key, taken)

    def run(self) -> list[PreferenceRow]:
        open_items = {(sid, it.id): it for sid, s in self.suites.items() for it in s.open_items()}
        mcq_items = {(sid, it.id): it for sid, s in self.suites.items() for it in s.mcq_items()}
        for call in self.all_calls:
            if call.model != self.model:
                continue
            key = (call.suite_id, call.item_id)
            if key not in open_items and key not in mcq_items:
                continue
            if key in self.contested and not self.include_contested:
                self.excluded["contested in the review queue"] += 1
                continue
            if key in open_items:
                self.open_answer(call, open_items[key])
            else:
                self.mcq_answer(call, mcq_items[key])
        return self.rows


def preference_rows(store: ResultsStore, run_id: str, model: str, fmt: PreferenceFormat, *,
                    ws: Workspace | None = None, judge_gate: float = DEFAULT_MIN_JUDGE_KAPPA,
                    include_contested: bool = False) -> tuple[list[PreferenceRow], ExportSummary]:
    """The rows of one export and its summary (nothing written)."""
    if fmt not in FORMATS:
        raise SafeVetError(f"unknown preference format {fmt!r}; choose {' or '.join(FORMATS)}")
    ex = _Exporter(store, ws, run_id, model, fmt, judge_gate, include_contested)
    rows = ex.run()
    summary = ExportSummary(run_id=run_id, model=model, format=fmt, out="", rows=len(rows),
                            judge_gate=judge_gate, include_contested=include_contested,
                            judges=sorted(ex.judges.values(), key=lambda r: r.judge),
                            judges_below_gate=sorted(ex.below_gate.values(),
                                                     key=lambda r: r.judge),
                            excluded={k: v for k, v in sorted(ex.excluded.items()) if v},
                            sources=dict(sorted(ex.sources.items())))
    return rows, summary


def row_json(row: PreferenceRow, fmt: PreferenceFormat) -> str:
    """One JSON line: TRL's columns first, then the provenance columns."""
    data = row.model_dump(mode="json")
    ordered = {k: data.pop(k) for k in TRL_COLUMNS[fmt]}
    ordered.update(data)
    return json.dumps(ordered, ensure_ascii=False)


def export_preferences(store: ResultsStore, run_id: str, model: str, fmt: PreferenceFormat,
                       out: str | Path, *, ws: Workspace | None = None,
                       judge_gate: float = DEFAULT_MIN_JUDGE_KAPPA,
                       include_contested: bool = False) -> ExportSummary:
    """Write the rows as JSON lines (atomically: a failed export leaves no partial file)."""
    rows, summary = preference_rows(store, run_id, model, fmt, ws=ws, judge_gate=judge_gate,
                                    include_contested=include_contested)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(row_json(row, fmt) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SafeVetError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return summary.model_copy(update={"out": str(out)})
