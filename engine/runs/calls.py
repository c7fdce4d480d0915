"""Making one model call for a work unit and turning it into a stored CallRecord.

Kept apart from the loop so the same code serves a batch of scoring calls, a
sampled answer and an open-ended generation, and so a failure becomes an error
row for that unit alone.
"""
from __future__ import annotations

import re
import time
import traceback

from engine.runs.plan import WorkUnit
from engine.store.db import CallRecord
from engine.suites.schema import McqItem

_LETTER = re.compile(r"\b([A-H])\b")


def base_record(run_id: str, unit: WorkUnit, prompt_text: str, context: dict) -> CallRecord:
    return CallRecord(run_id=run_id, model=unit.model, suite_id=unit.suite.id,
                      suite_version=unit.suite.version, item_id=unit.item.id,
                      condition=unit.condition, variant=str(unit.variant),
                      kind="mcq" if isinstance(unit.item, McqItem) else "open",
                      prompt_text=prompt_text, context=context)


def error_record(run_id: str, unit: WorkUnit, exc: BaseException, prompt_text: str = "") -> CallRecord:
    rec = base_record(run_id, unit, prompt_text, {})
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    rec.error = f"{type(exc).__name__}: {exc}{where}"
    return rec


def map_back(probs: dict[str, float], mapping: dict[str, str] | None) -> dict[str, float]:
    """Probabilities over shown letters → over the item's original letters."""
    if not mapping:
        return dict(probs)
    return {mapping[shown]: p for shown, p in probs.items()}


def choose(probs: dict[str, float]) -> tuple[str, float]:
    letter = max(probs, key=lambda k: probs[k])
    return letter, float(probs[letter])


def parse_letter(text: str, offered: list[str]) -> str | None:
    """First offered option letter in a short sampled answer, else None."""
    for match in _LETTER.finditer(text.strip()[:40]):
        if match.group(1) in offered:
            return match.group(1)
    return None


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000.0
