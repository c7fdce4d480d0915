"""PubMedQA (`ori_pqal.json` style): yes/no/maybe questions over an abstract.

The file is one JSON object keyed by PubMed id; each value needs `QUESTION`,
`CONTEXTS` (a list of abstract passages; `LABELS` of the same length, when
present, become section headings) and `final_decision` (yes, no or maybe).
Each record becomes an MCQ with A = yes, B = no, C = maybe, the abstract as
the clean evidence, and the first specific MeSH term as topic ("pubmedqa"
without MeSH terms). `LONG_ANSWER` is the abstract's conclusion, which states
the answer outright, so it is deliberately not used as evidence. PubMedQA has
no option-level safety labels, so none are set.

JSON gives no line numbers for values, so errors name the line on which the
record's key appears in the file.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError
from engine.inputfiles import parse_json, read_text
from engine.suites.importers.rows import Problems, build_item, has_control_chars
from engine.suites.schema import McqItem

KIND = "pubmedqa"
LICENSE = "MIT (PubMedQA, Jin et al. 2019)"
OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}
ANSWERS = {text: letter for letter, text in OPTIONS.items()}
COLUMN_OF = {"question": "QUESTION", "clean_evidence": "CONTEXTS",
             "topic": "MESHES"}  # suite field: source field
# MeSH check tags describe the study population, not what the question is about.
_CHECK_TAGS = {"humans", "animals", "male", "female", "adult", "aged", "middle aged",
               "aged, 80 and over", "adolescent", "child", "child, preschool", "infant",
               "infant, newborn", "young adult", "pregnancy", "retrospective studies",
               "prospective studies", "follow-up studies", "cohort studies",
               "cross-sectional studies", "treatment outcome", "risk factors",
               "time factors", "questionnaires", "surveys and questionnaires"}


def _key_lines(text: str, keys: list[str]) -> dict[str, int | None]:
    """Line of each top-level key, found by scanning forward in file order."""
    out: dict[str, int | None] = {}
    pos = 0
    for key in keys:
        at = text.find(json.dumps(key), pos)
        if at < 0:
            out[key] = None
            continue
        out[key] = text.count("\n", 0, at) + 1
        pos = at + 1
    return out


def _topic(meshes: object) -> str:
    if not isinstance(meshes, list):
        return "pubmedqa"
    terms = [str(m).strip() for m in meshes if str(m).strip()]
    specific = [t for t in terms if t.lower() not in _CHECK_TAGS]
    return (specific or terms or ["pubmedqa"])[0]


def _evidence(contexts: list[str], labels: object) -> str:
    if isinstance(labels, list) and len(labels) == len(contexts) and all(
            isinstance(lab, str) and lab.strip() for lab in labels):
        return "\n\n".join(f"{lab.strip()}: {c.strip()}" for lab, c in zip(labels, contexts))
    return "\n\n".join(c.strip() for c in contexts)


def read_items(path: str | Path) -> list[McqItem]:
    """Every record as a three-option MCQ; any bad record rejects the whole file."""
    path = Path(path)
    text = read_text(path, what="PubMedQA file")
    data = parse_json(text, file=path)
    if not isinstance(data, dict) or not data:
        raise InputError(path, "expected a non-empty JSON object keyed by PubMed id", line=1)
    lines = _key_lines(text, list(data))
    problems = Problems()
    items: list[McqItem] = []
    for key, rec in data.items():
        line = lines[key]
        before = len(problems.errors)
        if not isinstance(rec, dict):
            problems.add(path, f"record {key!r}: expected an object", line=line)
            continue
        if has_control_chars(rec, path, line, problems):
            continue
        question = rec.get("QUESTION")
        if not isinstance(question, str) or not question.strip():
            problems.add(path, f"record {key!r}: expected a non-empty question", line=line,
                         field="QUESTION")
        contexts = rec.get("CONTEXTS")
        if not (isinstance(contexts, list) and contexts
                and all(isinstance(c, str) and c.strip() for c in contexts)):
            problems.add(path, f"record {key!r}: expected a non-empty list of passages",
                         line=line, field="CONTEXTS")
            contexts = None
        decision = str(rec.get("final_decision", "")).strip().lower()
        if decision not in ANSWERS:
            problems.add(path, f"record {key!r}: expected yes, no or maybe, got "
                         f"{rec.get('final_decision')!r}", line=line, field="final_decision")
        if len(problems.errors) > before:
            continue
        item = build_item(McqItem, path, line, problems, columns=COLUMN_OF,
                          id=f"pmqa-{str(key).strip()}", question=question.strip(),
                          options=dict(OPTIONS), answer=ANSWERS[decision],
                          clean_evidence=_evidence(contexts, rec.get("LABELS")),
                          topic=_topic(rec.get("MESHES")))
        if item is not None:
            items.append(item)
    problems.raise_if_any()
    return items


def default_id(path: Path) -> str:
    return "pubmedqa"
