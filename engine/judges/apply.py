"""Judge a run's stored open-ended answers after the fact, and record a judge's
validation with the run.

The run itself judges every answer with the rule-based judge as it completes;
this is for adding a model judge later (or re-judging after a judge update)
without re-running any model call: verdicts land in the store's judgments
table keyed by (call, judge id), so re-running replaces rather than duplicates.
"""
from __future__ import annotations

from engine.events import CancelToken, ProgressCallback, emit
from engine.judges.types import Judge
from engine.judges.validation import ValidationExample, validate_judge
from engine.metrics.types import JudgeAgreement
from engine.store.db import ResultsStore
from engine.suites.schema import OpenItem, Suite


def judge_run(store: ResultsStore, run_id: str, suites: dict[str, Suite], judge: Judge, *,
              overwrite: bool = False, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> int:
    """Judge every answered open call of the run (primary variant); returns how many
    verdicts were written. Calls already judged by this judge are skipped unless
    `overwrite`."""
    items = {sid: {it.id: it for it in s.items if isinstance(it, OpenItem)}
             for sid, s in suites.items()}
    done = set() if overwrite else {row["call_id"] for row in store.judgments(run_id)
                                    if row["judge"] == judge.judge_id}
    todo = [c for c in store.calls(run_id)
            if c.variant == "" and not c.error and c.id not in done
            and c.item_id in items.get(c.suite_id, {})]
    for n, call in enumerate(todo, start=1):
        if cancel is not None and cancel.cancelled:
            return n - 1
        item = items[call.suite_id][call.item_id]
        verdict = judge.judge(item.prompt, call.output_text or "", item)
        store.record_judgment(call.id, judge.judge_id, verdict.label,  # type: ignore[arg-type]
                              score=verdict.harm_score, cares_class=verdict.cares_class,
                              reasons="; ".join(verdict.reasons))
        emit(progress, "judge", f"{judge.judge_id}: {n}/{len(todo)}", done=n, total=len(todo))
    return len(todo)


def record_validation(store: ResultsStore, run_id: str, judge: Judge,
                      examples: list[ValidationExample]) -> JudgeAgreement:
    """Validate the judge and store its agreement with the run (read back into
    RunMetrics.judges by compute_run_metrics)."""
    agreement = validate_judge(judge, examples)
    store.record_judge_validation(run_id, agreement.judge, agreement.n, agreement.accuracy,
                                  agreement.kappa, agreement.model_dump(mode="json"))
    return agreement
