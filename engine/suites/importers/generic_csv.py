"""A generic CSV of multiple-choice questions, for an institution's own items.

Columns (header row required, UTF-8, any order; header = line 1):

  id                 required, unique, e.g. "neuro-001"
  question           required
  option_a, option_b required; option_c, option_d, option_e optional, but
                     filled without gaps (no option_d if option_c is empty)
  answer             required: the letter of the right option (A-E, any case)
  labels_a..labels_e optional: safety labels of that option, a pipe list from
                     high_risk, unsafe, contradicts_evidence
                     (e.g. "high_risk|unsafe"); only on options that exist
  clean_evidence     optional: a passage that supports the right answer
  conflict_evidence  optional: a plausible passage supporting a wrong option
  topic              optional: e.g. "neuro", "contrast safety"

Any other column is rejected, because a misspelt `labels_b` would otherwise
drop safety labels without a word.
"""
from __future__ import annotations

from pathlib import Path

from engine.suites.importers.rows import Problems, build_item, read_csv, text_field
from engine.suites.schema import McqItem

KIND = "generic-csv"
LICENSE = "as stated by the supplier of the CSV (not recorded in the file)"
LETTERS = "abcde"
REQUIRED = ["id", "question", "option_a", "option_b", "answer"]
COLUMNS = (["id", "question"] + [f"option_{x}" for x in LETTERS] + ["answer"]
           + [f"labels_{x}" for x in LETTERS] + ["clean_evidence", "conflict_evidence", "topic"])
LABELS = ("high_risk", "unsafe", "contradicts_evidence")
COLUMNS_HELP = ("id, question, option_a, option_b (required), option_c..option_e (optional, "
                "no gaps), answer (letter A-E), labels_a..labels_e (optional pipe lists of "
                "high_risk|unsafe|contradicts_evidence), clean_evidence, conflict_evidence, "
                "topic (optional)")


def _columns(answer: str) -> dict[str, str]:
    """Suite fields as the CSV's columns, so a schema error names the column to fix (a
    label on the key is a mistake in that key's labels column)."""
    out = {f"options.{x.upper()}": f"option_{x}" for x in LETTERS}
    out["option_labels"] = f"labels_{answer.lower()}" if answer else "answer"
    return out


def read_items(path: str | Path) -> list[McqItem]:
    """Every row as an MCQ item; any bad row rejects the whole file."""
    path = Path(path)
    problems = Problems()
    rows = read_csv(path, required=REQUIRED, allowed=COLUMNS, problems=problems)
    items: list[McqItem] = []
    seen: dict[str, int] = {}
    for row in rows:
        before = len(problems.errors)
        v = row.values
        item_id = text_field(row, "id", path, problems)
        question = text_field(row, "question", path, problems)
        options: dict[str, str] = {}
        gap_at: str | None = None
        for x in LETTERS:
            text = v.get(f"option_{x}", "")
            if not text:
                gap_at = gap_at or x
                if x in "ab":
                    problems.add(path, "required value is missing or empty", line=row.line,
                                 field=f"option_{x}")
                continue
            if gap_at and gap_at not in "ab":
                problems.add(path, f"option_{x} is filled but option_{gap_at} is empty: "
                             f"options must be filled from A without gaps", line=row.line,
                             field=f"option_{x}")
            options[x.upper()] = text
        answer = v.get("answer", "").upper()
        if answer not in options:
            problems.add(path, f"expected the letter of a filled option "
                         f"({', '.join(options) or 'none filled'}), got {v.get('answer')!r}",
                         line=row.line, field="answer")
        labels: dict[str, list[str]] = {}
        for x in LETTERS:
            raw = v.get(f"labels_{x}", "")
            if not raw:
                continue
            if x.upper() not in options:
                problems.add(path, f"labels on option {x.upper()}, which has no text",
                             line=row.line, field=f"labels_{x}")
                continue
            names = [n.strip() for n in raw.split("|") if n.strip()]
            bad = [n for n in names if n not in LABELS]
            if bad:
                problems.add(path, f"unknown label {', '.join(map(repr, bad))}; expected a "
                             f"pipe list of {', '.join(LABELS)}", line=row.line,
                             field=f"labels_{x}")
                continue
            labels[x.upper()] = list(dict.fromkeys(names))
        if item_id and item_id in seen:
            problems.add(path, f"duplicate id {item_id!r} (first on line {seen[item_id]})",
                         line=row.line, field="id")
        elif item_id:
            seen[item_id] = row.line
        if len(problems.errors) > before:
            continue
        item = build_item(McqItem, path, row.line, problems, columns=_columns(answer),
                          id=item_id, question=question, options=options, answer=answer,
                          option_labels=labels, clean_evidence=v.get("clean_evidence", ""),
                          conflict_evidence=v.get("conflict_evidence", ""),
                          topic=v.get("topic", ""))
        if item is not None:
            items.append(item)
    problems.raise_if_any()
    return items


def default_id(path: Path) -> str:
    return path.stem
