"""A judge's agreement in words: the one place the CLI, the desktop and the PDF get it from.

A committee reads "98.5% agreement" as a property of the judge; it is a property
of the judge *on some examples*. Every sentence here therefore names the split
the figure was measured on (held-out, or tuned-on), its size and its file's
hash, the 95% intervals, and what the judge assesses as against assumes.
"""
from __future__ import annotations

from dataclasses import replace

from engine.judges.types import (QUANTITY_WORDS, SPLIT_WORDS, ClassRecall, Interval,
                                 JudgeAgreement)
from engine.metrics.types import Estimate
from engine.number_format import NumberStyle, count, rate, score

HASH_SHOWN = 12   # hex digits of a split file's sha256 in running text (the manifest has all)


def as_estimate(value: float | None, interval: Interval | None, n: int) -> Estimate:
    """An agreement figure as an Estimate, so number_format writes it like every figure."""
    return Estimate(value=value, low=interval.low if interval else None,
                    high=interval.high if interval else None, n=n)


def split_words(a: JudgeAgreement) -> str:
    """'held-out', 'development (tuned-on)', ...: what the figure was measured on."""
    return SPLIT_WORDS.get(a.split, a.split)


def split_identity(a: JudgeAgreement) -> str:
    """'heldout.jsonl sha256 3fa2c1d0e9ab…, version 1.0' (or what is known of it)."""
    if not a.split_file:
        return "file not recorded"
    text = a.split_file
    if a.split_sha256:
        text += f" sha256 {a.split_sha256[:HASH_SHOWN]}…"
    if a.split_version:
        text += f", version {a.split_version}"
    return text


def accuracy_text(a: JudgeAgreement, style: NumberStyle) -> str:
    return rate(as_estimate(a.accuracy, a.accuracy_interval, a.n), style=style)


def kappa_text(a: JudgeAgreement, style: NumberStyle) -> str:
    """κ with its interval, the bounds always to two decimals: the judge gate compares the
    lower bound with a limit like 0.60, and '0.6' for a bound of 0.55 would hide a fail."""
    return score(as_estimate(a.kappa, a.kappa_interval, a.n), style=replace(style, bound_drop=0))


def recall_text(r: ClassRecall, style: NumberStyle) -> str:
    """'95.0% (86.3–98.3), n=60'; 'no example' where the split has none of that class."""
    if not r.n:
        return "no example"
    shown = rate(as_estimate(r.recall, r.interval, r.n), style=style)
    return f"{shown}, n={count(r.n, style=style)}"


def harm_text(a: JudgeAgreement, style: NumberStyle) -> str:
    """Harm agreement and the harmful-compliant count; '' where no example carries harm."""
    h = a.harm
    if h is None:
        return ""
    parts = []
    if h.n:
        exact = rate(as_estimate(h.exact, h.exact_interval, h.n), style=style)
        near = rate(as_estimate(h.within_one, h.within_one_interval, h.n), style=style)
        parts.append(f"harm score exact {exact}, within one level {near} on "
                     f"{count(h.n, style=style)} scored examples")
    if h.harmful_compliant:
        parts.append(f"harmful compliant answers (harm ≥ 3) labelled refuse: "
                     f"{h.harmful_compliant_judged_refuse} of {h.harmful_compliant}")
    return "; ".join(parts)


def scope_sentence(a: JudgeAgreement) -> str:
    """What the judge reads from an answer and what it only infers, as it declares it."""
    if not a.assesses and not a.assumes:
        return f"{a.judge} does not declare which figures it assesses and which it assumes."

    def words(keys: list[str]) -> str:
        names = [QUANTITY_WORDS.get(k, k) for k in keys]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    text = f"{a.judge} assesses {words(a.assesses)}" if a.assesses else \
        f"{a.judge} assesses nothing it reports"
    if a.assumes:
        text += f"; it assumes {words(a.assumes)}"
        if a.assumption:
            text += f": {a.assumption}"
    return text + "."


def agreement_line(a: JudgeAgreement, style: NumberStyle) -> str:
    """One line per judge for the CLI and the desktop: split, n, accuracy and κ with
    intervals, per-class recall."""
    if not style.percent_sign:       # a sentence has no column header to carry the "%"
        style = replace(style, percent_sign="%")
    recall = "; ".join(f"{r.label} {recall_text(r, style)}" for r in a.per_class)
    line = (f"{a.judge}: {split_words(a)} agreement on {count(a.n, style=style)} labelled "
            f"responses ({split_identity(a)}): accuracy {accuracy_text(a, style)}, Cohen's κ "
            f"{kappa_text(a, style)}")
    if recall:
        line += f"; recall {recall}"
    harm = harm_text(a, style)
    return line + (f"; {harm}" if harm else "")
