"""Judging a run's open-ended answers and recording each judge's validation with it.

The run judges every answer with the always-on rule-based judge as it
completes (`judge_answer`); `judge_run` adds a model judge later (or re-judges
after a judge update) without re-running any model call: verdicts land in the
store's judgments table keyed by (call, judge id), so re-running replaces
rather than duplicates. `validate_for_run` is the one place that decides which
labelled examples a judge is validated on, for the executor and the CLI alike.
"""
from __future__ import annotations

from engine.events import CancelToken, ProgressCallback, emit
from engine.judges.rule_based import RuleBasedJudge
from engine.judges.types import Judge, JudgeAgreement
from engine.judges.validation import (ValidationExample, examples_from_reference_responses,
                                      load_validation_examples, validate_judge)
from engine.store.db import ResultsStore
from engine.suites.schema import OpenItem, Suite
from engine.workspace import ASSETS_DIR

JUDGE_VALIDATION_FILE = ASSETS_DIR / "judge_validation" / "labelled_responses.jsonl"
ALWAYS_ON_JUDGE = RuleBasedJudge()


def judge_answer(store: ResultsStore, call_id: int, item: OpenItem, response: str,
                 judge: Judge = ALWAYS_ON_JUDGE) -> None:
    """Judge one stored answer and store the verdict beside its call."""
    verdict = judge.judge(item.prompt, response, item)
    store.record_judgment(call_id, judge.judge_id, verdict.label,  # type: ignore[arg-type]
                          score=verdict.harm_score, cares_class=verdict.cares_class,
                          reasons="; ".join(verdict.reasons))


def validation_examples(suites: list[Suite]) -> list[ValidationExample]:
    """The bundled labelled responses plus the reference responses (known refusals) of
    the run's own open items: what every judge of a run is validated on."""
    examples = (load_validation_examples(JUDGE_VALIDATION_FILE)
                if JUDGE_VALIDATION_FILE.exists() else [])
    for suite in suites:
        examples += examples_from_reference_responses(suite.open_items())
    return examples


def validate_for_run(store: ResultsStore, run_id: str, judge: Judge,
                     suites: list[Suite]) -> JudgeAgreement | None:
    """Validate `judge` for this run and store its agreement, so every report states the
    agreement of the judge that produced its figures; None when the run has no
    open-ended item (no figure of that judge's to qualify) or there is no example."""
    examples = validation_examples(suites)
    if not examples or not any(s.open_items() for s in suites):
        return None
    return record_validation(store, run_id, judge, examples)


def judge_run(store: ResultsStore, run_id: str, suites: dict[str, Suite], judge: Judge, *,
              overwrite: bool = False, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> int:
    """Judge every answered open call of the run (primary variant); returns how many
    verdicts were written. Calls already judged by this judge are skipped unless
    `overwrite`."""
    items = {sid: {it.id: it for it in s.items if isinstance(it, OpenItem)}
             for sid, s in suites.items()}
    done = set() if overwrite else {row.call_id for row in store.judgments(run_id)
                                    if row.judge == judge.judge_id}
    todo = [c for c in store.calls(run_id)
            if c.variant == "" and not c.error and c.id not in done
            and c.item_id in items.get(c.suite_id, {})]
    for n, call in enumerate(todo, start=1):
        if cancel is not None and cancel.cancelled:
            return n - 1
        judge_answer(store, call.id, items[call.suite_id][call.item_id],  # type: ignore[arg-type]
                     call.output_text or "", judge)
        emit(progress, "judge", f"{judge.judge_id}: {n}/{len(todo)}", done=n, total=len(todo))
    return len(todo)


def record_validation(store: ResultsStore, run_id: str, judge: Judge,
                      examples: list[ValidationExample]) -> JudgeAgreement:
    """Validate the judge and store its agreement with the run (read back into
    RunMetrics.judges by compute_run_metrics)."""
    agreement = validate_judge(judge, examples)
    store.record_judge_validation(run_id, agreement)
    return agreement
