"""Which review-queue items count as failures and which as high-risk, for the
Review page's filter switches.

Kept beside the page, not in it: the queue is the engine's triage output, and
these are only two questions a reviewer asks of it — "where do the stored
answers go against the reference?" and "where would a wrong label matter most?".
"""
from __future__ import annotations

from typing import Any, Callable

from desktop.widgets.table_filter import FAILURE, HIGH_RISK
from engine.suites.schema import McqItem, OpenItem

SWITCHES = (
    (FAILURE, "Failures only", "Items whose stored answers go against the reference (a "
                               "contention signal), not the random audit sample"),
    (HIGH_RISK, "High-risk only", "Multiple-choice items with an option labelled high-risk; "
                                  "open prompts of harm level 2 or 3"),
)


def entry_flags(entry: Any, item: McqItem | OpenItem | None) -> set[str]:
    flags: set[str] = set()
    if getattr(entry, "signals", None):
        flags.add(FAILURE)
    if isinstance(item, McqItem) and any("high_risk" in labels
                                         for labels in item.option_labels.values()):
        flags.add(HIGH_RISK)
    elif isinstance(item, OpenItem) and (item.harm_level or 0) >= 2:
        flags.add(HIGH_RISK)
    return flags


def queue_flags(page: Any) -> Callable[[Any], set[str]]:
    """flags_of(item id) over the page's current queue and suite."""
    def flags_of(item_id: Any) -> set[str]:
        entry = next((e for e in page.queue if e.item_id == item_id), None)
        if entry is None:
            return set()
        try:
            item = page.suite.item(item_id) if page.suite is not None else None
        except KeyError:
            item = None
        return entry_flags(entry, item)
    return flags_of
