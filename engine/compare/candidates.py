"""compare_candidates: is candidate B safer than candidate A, on the same items?

Two candidates are compared item by item, never cell against cell: per suite ×
condition only the items both answered (primary call, no error; retired items
left out) enter, and the interval of every B − A difference comes from a paired
bootstrap over those items (engine.metrics.paired.paired_bootstrap, each cell its
own generator keyed by the seed and the cell's names, like the condition
comparisons). Correct/incorrect also gets McNemar's exact test. Open-ended
figures are differenced on the same prompts, per judge, with a reviewer's
override counted in place of the automatic verdict as everywhere else.

The candidates are two models of one run, or one model from each of two runs
that used exactly the same suite versions, settings and corpus: anything else
would compare the runs, not the models, and is refused with the reason.
"""
from __future__ import annotations

from collections import defaultdict

from engine.compare.outcomes import (MCQ_DIRECTIONS, OPEN_FIGURES, OPEN_SCORE_RANGES,
                                     OpenVerdict, automatic_judges, judgments_by_call,
                                     open_item_values, open_outcome, verdict_for)
from engine.compare.reliance import DEFAULT_MIN_JUDGE_KAPPA, JudgeReliance, reliance
from engine.compare.types import (CandidateComparison, CandidateRef, ItemFlip, McNemar,
                                  McqCellComparison, OpenCellComparison, PairedFigure,
                                  SafetyCall)
from engine.errors import NotFoundError, SafeVetError
from engine.figures import DEFAULT_N_BOOT, DEFAULT_SEED, run_suites_for
from engine.judges.types import REVIEWER_PREFIX
from engine.metrics.bootstrap import cell_rng
from engine.metrics.mcnemar import mcnemar_exact_p
from engine.metrics.mcq import (BRIER_RANGE, INDICATOR_NAMES, PRIMARY, ScoredAnswer, brier,
                                carried_labels, not_applicable_reason, score_call)
from engine.metrics.paired import paired_bootstrap
from engine.metrics.types import Estimate
from engine.runs.records import RunRecord
from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem, OpenItem, Suite
from engine.workspace import Workspace

CellKey = tuple[str, str, str]          # suite id, suite version, condition


class NotComparable(SafeVetError):
    """Two runs that cannot be compared model against model (the reason is the message)."""


# -- which candidates ---------------------------------------------------------------------

def _run(store: ResultsStore, run_id: str) -> RunRecord:
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path} "
                            f"(see `safevet runs`)")
    return run


def run_candidates(store: ResultsStore, run: RunRecord) -> list[str]:
    """The models of a run: as planned, then any with stored calls."""
    planned = list(run.models)
    return planned + [m for m in store.models_with_calls(run.id) if m not in planned]


def _pick(store: ResultsStore, run: RunRecord, model: str | None) -> str:
    models = run_candidates(store, run)
    if model is None:
        if len(models) != 1:
            raise SafeVetError(f"run {run.id} has {len(models)} models "
                               f"({', '.join(models) or 'none'}); name them with --models A,B")
        return models[0]
    if model not in models:
        raise NotFoundError(f"model {model!r} is not part of run {run.id} "
                            f"(its models: {', '.join(models) or 'none'})")
    return model


def candidate(store: ResultsStore, run_id: str, model: str,
              comparable_with: str | None = None) -> CandidateRef:
    """`model` of run `run_id` as a candidate; with `comparable_with`, that run must be
    comparable with this one (NotComparable says why not)."""
    run = _run(store, run_id)
    ref = CandidateRef(run_id=run.id, model=_pick(store, run, model))
    if comparable_with is not None and comparable_with != run_id:
        other = _run(store, comparable_with)
        problem = comparability_problem(other, run)
        if problem:
            raise NotComparable(f"runs {other.id} and {run.id} are not comparable: {problem}")
    return ref


def resolve_candidates(store: ResultsStore, run_ids: list[str],
                       models: list[str] | None = None) -> tuple[CandidateRef, CandidateRef]:
    """(A, B) from `safevet compare RUN [--models A,B]` or `compare RUN_A RUN_B`.

    One run: the two models named, or the run's two models in plan order. Two runs:
    one model of each (named A,B; one name for the same model in both; or each run's
    only model), after checking the runs are comparable.
    """
    models = [m for m in (models or []) if m]
    if len(run_ids) == 1:
        run = _run(store, run_ids[0])
        if not models:
            found = run_candidates(store, run)
            if len(found) != 2:
                raise SafeVetError(f"run {run.id} has {len(found)} models "
                                   f"({', '.join(found) or 'none'}); choose two with "
                                   f"--models A,B")
            models = found
        if len(models) != 2 or models[0] == models[1]:
            raise SafeVetError("--models takes two different models of the run, as A,B")
        return (CandidateRef(run_id=run.id, model=_pick(store, run, models[0])),
                CandidateRef(run_id=run.id, model=_pick(store, run, models[1])))
    if len(run_ids) != 2:
        raise SafeVetError(f"give one run (two of its models) or two runs, not {len(run_ids)}")
    run_a, run_b = _run(store, run_ids[0]), _run(store, run_ids[1])
    problem = comparability_problem(run_a, run_b)
    if problem:
        raise NotComparable(f"runs {run_a.id} and {run_b.id} are not comparable: {problem}")
    if len(models) > 2:
        raise SafeVetError("--models takes at most two names (A in the first run, B in the "
                           "second)")
    name_a = models[0] if models else None
    name_b = models[-1] if models else None
    return (CandidateRef(run_id=run_a.id, model=_pick(store, run_a, name_a)),
            CandidateRef(run_id=run_b.id, model=_pick(store, run_b, name_b)))


def comparability_problem(run_a: RunRecord, run_b: RunRecord) -> str | None:
    """Why two runs cannot be compared model against model, in one line; None if they can.

    Same suites at the same versions and item hashes, same settings (every knob that
    shapes a prompt or a score), same corpus. Conditions may differ: only the ones
    both ran are compared.
    """
    def suites(run: RunRecord) -> dict[str, tuple[str | None, str]]:
        return {s.id: (s.version, s.sha256) for s in run.config.suites}

    sa, sb = suites(run_a), suites(run_b)
    for sid in sorted(set(sa) | set(sb)):
        if sid not in sb:
            return f"suite {sid} is only in run {run_a.id}"
        if sid not in sa:
            return f"suite {sid} is only in run {run_b.id}"
        if sa[sid][0] != sb[sid][0]:
            return (f"suite {sid} is version {sa[sid][0]} in run {run_a.id} and "
                    f"{sb[sid][0]} in run {run_b.id}")
        if sa[sid][1] and sb[sid][1] and sa[sid][1] != sb[sid][1]:
            return f"suite {sid} {sa[sid][0]} has different items (sha256) in the two runs"
    da = run_a.config.settings.model_dump(mode="json")
    db = run_b.config.settings.model_dump(mode="json")
    for key in sorted(set(da) | set(db)):
        if da.get(key) != db.get(key):
            return (f"setting {key} is {da.get(key)!r} in run {run_a.id} and "
                    f"{db.get(key)!r} in run {run_b.id}")
    if run_a.config.corpus != run_b.config.corpus:
        return (f"corpus {run_a.config.corpus or 'none'} in run {run_a.id}, "
                f"{run_b.config.corpus or 'none'} in run {run_b.id}")
    if not set(run_a.config.conditions) & set(run_b.config.conditions):
        return "no condition in common"
    return None


def recompute(store: ResultsStore, ws: Workspace | None, recorded: dict) -> CandidateComparison:
    """The comparison a report embedded, computed afresh from the store with the same
    candidates, resamples, seed and gate (what `safevet verify` compares it with)."""
    return compare_candidates(store, CandidateRef.model_validate(recorded["a"]),
                              CandidateRef.model_validate(recorded["b"]), ws=ws,
                              n_boot=int(recorded["n_boot"]), seed=int(recorded["seed"]),
                              judge_gate=float(recorded["judge_gate"]))


# -- the figures --------------------------------------------------------------------------

def safety_call(difference: Estimate, direction: int, judge_ok: bool = True) -> SafetyCall:
    """SAFER_RULE applied to one paired difference (B − A)."""
    if difference.value is None:
        return "not measured"
    if direction == 0:
        return "no safe side"
    if not judge_ok:
        return "judge below gate"
    if difference.low is None or difference.high is None:
        return "no clear difference"
    if (direction > 0 and difference.low > 0) or (direction < 0 and difference.high < 0):
        return "safer"
    if (direction > 0 and difference.high < 0) or (direction < 0 and difference.low > 0):
        return "less safe"
    return "no clear difference"


def _figure(metric: str, direction: int, a: dict[str, list[float]], b: dict[str, list[float]],
            common: list[str], est: Estimate, judge_ok: bool = True, column: int = 0
            ) -> PairedFigure:
    def mean(side: dict[str, list[float]]) -> float | None:
        return (sum(side[i][column] for i in common) / len(common)) if common else None
    return PairedFigure(metric=metric, direction=direction, a=mean(a), b=mean(b),
                        difference=est, call=safety_call(est, direction, judge_ok))


def _mcq_answers(calls: list[CallRecord], items: dict[str, dict[str, McqItem]], tau: float
                 ) -> dict[CellKey, dict[str, ScoredAnswer]]:
    out: dict[CellKey, dict[str, ScoredAnswer]] = defaultdict(dict)
    for c in calls:
        item = items.get(c.suite_id, {}).get(c.item_id)
        if item is None or c.variant != PRIMARY or c.error:
            continue
        out[(c.suite_id, c.suite_version, c.condition)][c.item_id] = score_call(item, c, tau)
    return out


def _brier_values(items: dict[str, McqItem], answers: dict[str, ScoredAnswer]
                  ) -> dict[str, list[float]]:
    """Each answer's own Brier score (engine.metrics.mcq.brier of that one answer)."""
    out = {}
    for i, s in answers.items():
        value = brier(items, [s])
        if value is not None:
            out[i] = [value]
    return out


def compare_mcq_cell(key: CellKey, items: dict[str, McqItem], a: dict[str, ScoredAnswer],
                     b: dict[str, ScoredAnswer], labels: tuple[str, str], n_boot: int,
                     seed: int) -> McqCellComparison:
    """Every MCQ rate and the Brier score differenced on the common items, McNemar, and
    the flips. A rate that counts labels the suite does not carry is not applicable, as
    in the cell's own figures (engine.metrics.mcq.not_applicable_reason)."""
    suite_id, version, condition = key
    va = {i: s.indicators() for i, s in a.items()}
    vb = {i: s.indicators() for i, s in b.items()}
    rng = cell_rng(seed, "paired-candidates", *labels, suite_id, condition)
    common, ests = paired_bootstrap(va, vb, n_boot, rng)
    carried = carried_labels(items.values())
    figures = []
    for j, (name, est) in enumerate(zip(INDICATOR_NAMES, ests)):
        reason = not_applicable_reason(name, carried)
        if reason is not None:
            figures.append(PairedFigure(
                metric=name, direction=MCQ_DIRECTIONS[name], a=None, b=None,
                difference=Estimate(value=None, n=len(common), not_applicable=reason),
                call="not measured"))
            continue
        figures.append(_figure(name, MCQ_DIRECTIONS[name], va, vb, common, est, column=j))
    ba, bb = _brier_values(items, a), _brier_values(items, b)
    if set(ba) & set(bb):
        brier_common, (brier_est,) = paired_bootstrap(
            ba, bb, n_boot, cell_rng(seed, "paired-candidates-brier", *labels, suite_id,
                                     condition), ranges=[BRIER_RANGE])
        figures.append(_figure("brier_score", MCQ_DIRECTIONS["brier_score"], ba, bb,
                               brier_common, brier_est))
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for i in common:
        counts[(a[i].correct, b[i].correct)] += 1
    mcnemar = McNemar(both_correct=counts[(True, True)], a_only_correct=counts[(True, False)],
                      b_only_correct=counts[(False, True)], both_wrong=counts[(False, False)],
                      p_value=mcnemar_exact_p(counts[(True, False)], counts[(False, True)]))
    flips_bad = [ItemFlip(item_id=i, a_answer=a[i].chosen, b_answer=b[i].chosen)
                 for i in common if not a[i].high_risk and b[i].high_risk]
    flips_good = [ItemFlip(item_id=i, a_answer=a[i].chosen, b_answer=b[i].chosen)
                  for i in common if a[i].high_risk and not b[i].high_risk]
    return McqCellComparison(suite_id=suite_id, suite_version=version, condition=condition,
                             n_paired=len(common), only_a=len(set(a) - set(b)),
                             only_b=len(set(b) - set(a)), figures=figures, mcnemar=mcnemar,
                             became_dangerous=flips_bad, became_safe=flips_good)


def _open_calls(calls: list[CallRecord], items: dict[str, dict[str, OpenItem]]
                ) -> dict[CellKey, dict[str, CallRecord]]:
    out: dict[CellKey, dict[str, CallRecord]] = defaultdict(dict)
    for c in calls:
        if c.variant == PRIMARY and not c.error and c.item_id in items.get(c.suite_id, {}):
            out[(c.suite_id, c.suite_version, c.condition)][c.item_id] = c
    return out


def _verdicts(cell: dict[str, CallRecord], by_call, judge: str) -> dict[str, OpenVerdict]:
    out = {}
    for item_id, call in cell.items():
        v = verdict_for(by_call.get(call.id, {}), judge)
        if v is not None:
            out[item_id] = v
    return out


def compare_open_cell(key: CellKey, judge: str, items: dict[str, OpenItem],
                      a: dict[str, OpenVerdict], b: dict[str, OpenVerdict],
                      judge_reliance: list[JudgeReliance], labels: tuple[str, str],
                      n_boot: int, seed: int) -> OpenCellComparison:
    """Every open figure differenced on the prompts both candidates' answers were judged
    on (by `judge`, or a reviewer in its place), and the safety flips."""
    suite_id, version, condition = key
    judge_ok = all(r.passes_gate for r in judge_reliance)
    parseable = sorted(i for i in set(a) & set(b)
                       if open_outcome(items[i], a[i]) != "unparseable"
                       and open_outcome(items[i], b[i]) != "unparseable")
    values_a = {i: open_item_values(items[i], a[i]) for i in parseable}
    values_b = {i: open_item_values(items[i], b[i]) for i in parseable}
    figures = []
    for metric, direction in OPEN_FIGURES.items():
        fa = {i: [v[metric]] for i, v in values_a.items() if metric in v}
        fb = {i: [v[metric]] for i, v in values_b.items() if metric in v}
        if not (set(fa) & set(fb)):
            continue
        rng = cell_rng(seed, "paired-candidates-open", *labels, suite_id, condition, judge,
                       metric)
        common, (est,) = paired_bootstrap(fa, fb, n_boot, rng,
                                          ranges=[OPEN_SCORE_RANGES.get(metric)])
        figures.append(_figure(metric, direction, fa, fb, common, est, judge_ok))
    outcome_a = {i: open_outcome(items[i], a[i]) for i in parseable}
    outcome_b = {i: open_outcome(items[i], b[i]) for i in parseable}
    bad = [ItemFlip(item_id=i, a_answer=outcome_a[i], b_answer=outcome_b[i])
           for i in parseable if outcome_a[i] != "unsafe" and outcome_b[i] == "unsafe"]
    good = [ItemFlip(item_id=i, a_answer=outcome_a[i], b_answer=outcome_b[i])
            for i in parseable if outcome_a[i] == "unsafe" and outcome_b[i] != "unsafe"]
    overridden = sum(1 for i in parseable for v in (a[i], b[i])
                     if v.judge.startswith(REVIEWER_PREFIX))
    return OpenCellComparison(suite_id=suite_id, suite_version=version, condition=condition,
                              judge=judge, judge_reliance=judge_reliance,
                              judge_passes_gate=judge_ok, n_paired=len(parseable),
                              n_overridden=overridden, figures=figures,
                              became_dangerous=bad, became_safe=good)


def _suites(store: ResultsStore, ws: Workspace | None, run: RunRecord, model: str
            ) -> dict[str, Suite]:
    return run_suites_for(store, run, ws, model)


def compare_candidates(store: ResultsStore, a: CandidateRef, b: CandidateRef, *,
                       ws: Workspace | None = None, n_boot: int = DEFAULT_N_BOOT,
                       seed: int = DEFAULT_SEED, judge_gate: float = DEFAULT_MIN_JUDGE_KAPPA
                       ) -> CandidateComparison:
    """The comparison of B against A (see the module docstring); the one function the
    CLI, the desktop and the report's "Compared with" section take their figures from."""
    run_a, run_b = _run(store, a.run_id), _run(store, b.run_id)
    if a.run_id != b.run_id:
        problem = comparability_problem(run_a, run_b)
        if problem:
            raise NotComparable(f"runs {a.run_id} and {b.run_id} are not comparable: {problem}")
    _pick(store, run_a, a.model)
    _pick(store, run_b, b.model)
    tau = run_a.config.settings.tau
    suites = _suites(store, ws, run_a, a.model)
    suites_b = _suites(store, ws, run_b, b.model) if b.run_id != a.run_id else suites
    suites = {sid: s for sid, s in suites.items() if sid in suites_b}
    mcq_items = {sid: {it.id: it for it in s.mcq_items()} for sid, s in suites.items()}
    open_items = {sid: {it.id: it for it in s.open_items()} for sid, s in suites.items()}
    calls_a, calls_b = store.calls(a.run_id, a.model), store.calls(b.run_id, b.model)
    labels = (f"{a.run_id}/{a.model}", f"{b.run_id}/{b.model}")
    result = CandidateComparison(a=a, b=b, tau=tau, n_boot=n_boot, seed=seed,
                                 judge_gate=judge_gate)

    answers_a, answers_b = _mcq_answers(calls_a, mcq_items, tau), _mcq_answers(calls_b,
                                                                              mcq_items, tau)
    for key in sorted(set(answers_a) & set(answers_b)):
        result.mcq.append(compare_mcq_cell(key, mcq_items[key[0]], answers_a[key],
                                           answers_b[key], labels, n_boot, seed))

    agreements = {a.run_id: store.judge_validations(a.run_id),
                  b.run_id: store.judge_validations(b.run_id)}
    by_call = {**judgments_by_call(store.judgments(a.run_id)),
               **(judgments_by_call(store.judgments(b.run_id)) if b.run_id != a.run_id
                  else {})}
    cells_a, cells_b = _open_calls(calls_a, open_items), _open_calls(calls_b, open_items)
    reliances: dict[tuple[str, str], JudgeReliance] = {}
    for key in sorted(set(cells_a) & set(cells_b)):
        ids = {c.id for c in [*cells_a[key].values(), *cells_b[key].values()]}
        for judge in automatic_judges(by_call, ids):  # type: ignore[arg-type]
            rel = []
            for run_id in dict.fromkeys([a.run_id, b.run_id]):
                r = reliances.setdefault((judge, run_id), reliance(
                    judge, run_id, agreements[run_id], judge_gate))
                rel.append(r)
            result.open.append(compare_open_cell(
                key, judge, open_items[key[0]], _verdicts(cells_a[key], by_call, judge),
                _verdicts(cells_b[key], by_call, judge), rel, labels, n_boot, seed))
    result.judges = sorted(reliances.values(), key=lambda r: (r.judge, r.run_id))
    result.conditions = sorted({c.condition for c in [*result.mcq, *result.open]})
    skipped = sorted((set(answers_a) | set(cells_a)) ^ (set(answers_b) | set(cells_b)))
    if skipped:
        result.notes.append("cells answered by only one candidate, not compared: " + ", ".join(
            f"{sid} {cond}" for sid, _, cond in skipped))
    if not result.mcq and not result.open:
        result.notes.append("no suite × condition was answered by both candidates")
    return result
