"""The sentences that open page 1: the verdict, and which thresholds it rests on.

A committee member who reads only page 1 must learn the verdict and *why*
(which limit was crossed, by how much, and what was never assessed) without
turning to the tables. The sentences are plain text built from the same
ThresholdResults the verdict tables print, and every figure in them goes
through engine.number_format, so page 1 and the tables agree to the digit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.conditions.registry import label as cond_label
from engine.number_format import REPORT, percent, scalar, setting
from engine.report.thresholds import ThresholdResult, Verdict

NO_SUITE = "—"   # the suite/condition of an open-ended threshold no suite measured


def verdict_sentence(overall: Verdict) -> str:
    """'Verdict: FAIL.': the word a committee acts on, alone, first."""
    return f"Verdict: {overall.value}."


def _value(r: ThresholdResult, v: float) -> str:
    return percent(v, style=REPORT) if r.percent else scalar(v, style=REPORT)


def _limit(r: ThresholdResult) -> str:
    return percent(r.limit, style=REPORT) if r.percent else setting(r.limit)


def _why_failed(r: ThresholdResult) -> str:
    """'upper bound 44.0% > limit 5.0%': the bound the rule used, not the point estimate."""
    side = "upper" if r.kind == "max" else "lower"
    exact = "exact " if r.reason.startswith("exact") else ""
    sign = ">" if r.kind == "max" else "<"
    bound = REPORT.missing if r.bound is None else _value(r, r.bound)
    return f"{exact}{side} bound {bound} {sign} limit {_limit(r)}"


def _cond(name: str) -> str:
    """A condition's label inside a sentence: 'closed-book', 'standard RAG'."""
    return _lower_first(cond_label(name))


def _lower_first(text: str) -> str:
    """'High-risk error rate' → 'high-risk error rate' inside a sentence; acronyms kept."""
    head = text.split(" ", 1)[0]
    return text if head.isupper() or any(c.isupper() for c in head[1:]) else \
        text[:1].lower() + text[1:]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass
class _Group:
    """Failures of one requirement on one suite: conditions that failed by the same
    bound against the same limit are named together, the bound once."""

    label: str
    suite_id: str
    by_why: dict[str, list[str]] = field(default_factory=dict)   # 'upper bound …' → conditions

    def clause(self) -> str:
        suite = f" on {self.suite_id}" if self.suite_id != NO_SUITE else ""
        parts = [(f"under {_and(conds)} " if conds else "") + f"({why})"
                 for why, conds in self.by_why.items()]
        return f"{_lower_first(self.label)}{suite} " + ", ".join(parts)


def _failure_groups(failed: list[ThresholdResult]) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for r in failed:
        g = groups.setdefault((r.label, r.suite_id), _Group(r.label, r.suite_id))
        conds = g.by_why.setdefault(_why_failed(r), [])
        if r.suite_id != NO_SUITE:
            conds.append(_cond(r.condition))
    return list(groups.values())


def _count(n: int, total: int) -> str:
    return f"{n} of {total} threshold" + ("" if total == 1 else "s")


def failing_sentence(results: list[ThresholdResult]) -> str:
    """'It fails 3 of 18 thresholds: high-risk error rate on s under closed-book (upper
    bound 44.0% > limit 5.0%), …'. Grouped by requirement and suite so a long list of
    conditions still reads as one sentence."""
    total = len(results)
    failed = [r for r in results if r.verdict == Verdict.FAIL]
    if not total:
        return "No threshold was evaluated."
    if not failed:
        if all(r.verdict == Verdict.PASS for r in results):
            return f"No threshold fails: it passes all {total}."
        return f"None of its {total} thresholds fails."
    clauses = "; ".join(g.clause() for g in _failure_groups(failed))
    return f"It fails {_count(len(failed), total)}: {clauses}."


def not_assessed_sentence(results: list[ThresholdResult]) -> str:
    """'2 of 18 thresholds are NOT ASSESSED, which is never a pass: accuracy under
    standard RAG on s (condition not run); …'.

    Empty when everything was assessed. A NOT ASSESSED threshold is never a pass,
    so page 1 names each one with the reason next to the failures.
    """
    missing = [r for r in results if r.verdict == Verdict.NOT_ASSESSED]
    if not missing:
        return ""
    by_reason: dict[str, list[ThresholdResult]] = {}
    for r in missing:
        by_reason.setdefault(r.reason, []).append(r)
    clauses = [f"{_missing_clause(rs)} ({reason})" for reason, rs in by_reason.items()]
    verb = "is" if len(missing) == 1 else "are"
    return (f"{_count(len(missing), len(results))} {verb} NOT ASSESSED, which is never a "
            f"pass: {'; '.join(clauses)}.")


def _missing_clause(rs: list[ThresholdResult]) -> str:
    """'accuracy and unsafe answer rate under standard RAG and max context on s' when every
    requirement is missing under every condition named (a condition not run), else each
    threshold spelled out, so the short form never claims a combination that was measured."""
    labels = list(dict.fromkeys(_lower_first(r.label) for r in rs))
    located = [r for r in rs if r.suite_id != NO_SUITE]
    if not located:
        return _and(labels)
    conds = list(dict.fromkeys(_cond(r.condition) for r in located))
    suites = list(dict.fromkeys(r.suite_id for r in located))
    if len(located) == len(rs) == len(labels) * len(conds) * len(suites):
        return f"{_and(labels)} under {_and(conds)} on {_and(suites)}"
    return _and([f"{_lower_first(r.label)}" + (
        f" under {_cond(r.condition)} on {r.suite_id}" if r.suite_id != NO_SUITE else "")
        for r in rs])


def passed_sentence(results: list[ThresholdResult]) -> str:
    """'It passes 13.': the remainder, so the three counts add up on page 1."""
    n = sum(1 for r in results if r.verdict == Verdict.PASS)
    if not results:
        return ""
    return f"It passes {n} of {len(results)}." if n else "It passes none of them."
