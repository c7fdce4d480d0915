"""Judging a run's open-ended answers and recording each judge's validation with it.

The run judges every answer with the always-on rule-based judge as it
completes (`judge_answer`); `judge_run` adds a model judge later (or re-judges
after a judge update) without re-running any model call: verdicts land in the
store's judgments table keyed by (call, judge id), so re-running replaces
rather than duplicates. `validate_for_run` is the one place that decides which
labelled examples a judge is validated on, for the executor and the CLI alike:
the held-out part of the bundled validation set (engine.judges.validation), with
the run's own reference refusals judged beside it but never mixed into it.
"""
from __future__ import annotations

from pathlib import Path

from engine.events import CancelToken, ProgressCallback, emit
from engine.judges.rule_based import RuleBasedJudge
from engine.judges.types import UNSPLIT, Judge, JudgeAgreement
from engine.judges.validation import (VALIDATION_DIR, ValidationExample, ValidationSet,
                                      examples_from_reference_responses, reported_set,
                                      validate_judge)
from engine.store.db import ResultsStore
from engine.suites.schema import OpenItem, Suite

ALWAYS_ON_JUDGE = RuleBasedJudge()
# Answers handed at once to a judge that batches (`judge_many`): large enough to fill a
# scoring batch, small enough that progress and cancellation stay responsive.
JUDGE_BATCH = 32


def judge_answer(store: ResultsStore, call_id: int, item: OpenItem, response: str,
                 judge: Judge = ALWAYS_ON_JUDGE) -> None:
    """Judge one stored answer and store the verdict beside its call."""
    verdict = judge.judge(item.prompt, response, item)
    store.record_judgment(call_id, judge.judge_id, verdict.label,  # type: ignore[arg-type]
                          score=verdict.harm_score, cares_class=verdict.cares_class,
                          reasons="; ".join(verdict.reasons))


def reference_examples(suites: list[Suite]) -> list[ValidationExample]:
    """The reference responses (known refusals) of the run's own open items."""
    return [ex for suite in suites for ex in examples_from_reference_responses(suite.open_items())]


def validate_for_run(store: ResultsStore, run_id: str, judge: Judge, suites: list[Suite],
                     directory=VALIDATION_DIR) -> JudgeAgreement | None:
    """Validate `judge` for this run on the held-out split and store its agreement, so every
    report states the agreement of the judge that produced its figures; None when the run
    has no open-ended item (no figure of that judge's to qualify) or there is no example.

    The run's reference refusals are judged too and stored beside the figure
    (ReferenceCheck), not in it: they are one class and the rule-based judge was tuned
    on responses like them. Where the asset folder has no split, the unsplit file is
    used and the agreement says so (the judge gate will not accept it).
    """
    if not any(s.open_items() for s in suites):
        return None
    vset = reported_set(directory)
    refs = reference_examples(suites)
    if vset is None:
        if not refs:
            return None
        return record_validation(store, run_id, judge, ValidationSet(
            UNSPLIT, Path("reference responses"), "", "", refs))
    return record_validation(store, run_id, judge, vset, reference=refs)


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
    many = getattr(judge, "judge_many", None)
    if many is not None:  # a batching judge (classifier, jury): JUDGE_BATCH calls at a time
        for start in range(0, len(todo), JUDGE_BATCH):
            if cancel is not None and cancel.cancelled:
                return start
            chunk = todo[start:start + JUDGE_BATCH]
            its = [items[c.suite_id][c.item_id] for c in chunk]
            for call, verdict in zip(chunk, many([it.prompt for it in its],
                                                 [c.output_text or "" for c in chunk], its)):
                store.record_judgment(call.id, judge.judge_id, verdict.label,
                                      score=verdict.harm_score, cares_class=verdict.cares_class,
                                      reasons="; ".join(verdict.reasons))
            n = start + len(chunk)
            emit(progress, "judge", f"{judge.judge_id}: {n}/{len(todo)}", done=n,
                 total=len(todo))
        return len(todo)
    for n, call in enumerate(todo, start=1):
        if cancel is not None and cancel.cancelled:
            return n - 1
        judge_answer(store, call.id, items[call.suite_id][call.item_id],  # type: ignore[arg-type]
                     call.output_text or "", judge)
        emit(progress, "judge", f"{judge.judge_id}: {n}/{len(todo)}", done=n, total=len(todo))
    return len(todo)


def record_validation(store: ResultsStore, run_id: str, judge: Judge,
                      examples: list[ValidationExample] | ValidationSet, *,
                      reference: list[ValidationExample] | None = None) -> JudgeAgreement:
    """Validate the judge and store its agreement with the run (read back into
    RunMetrics.judges by compute_run_metrics)."""
    agreement = validate_judge(judge, examples, reference=reference)
    store.record_judge_validation(run_id, agreement)
    return agreement
