"""Label stewardship: triage contested items, clinician review, living suite versions.

The public API for the CLI and the desktop Review page; everything reads and
writes through the results store and suite folders, never a model.
"""
from engine.stewardship.appendix import StewardshipAppendix, VersionRecord, stewardship_appendix
from engine.stewardship.changes import DECISION_KINDS, DecisionError, DecisionKind
from engine.stewardship.impact import (ImpactCell, ImpactReport, ItemChange, MetricShift,
                                       diff_items, impact)
from engine.stewardship.ledger import verify_log
from engine.stewardship.review import (Decision, ReviewPolicy, confirm, decide, get_decision,
                                       list_decisions, reject)
from engine.stewardship.signals import Signal
from engine.stewardship.triage import AnswerView, ItemView, QueueEntry, item_view, triage_queue
from engine.stewardship.versions import apply_decisions, bump_minor

__all__ = [
    "AnswerView", "DECISION_KINDS", "Decision", "DecisionError", "DecisionKind", "ImpactCell",
    "ImpactReport", "ItemChange", "ItemView", "MetricShift", "QueueEntry", "ReviewPolicy",
    "Signal", "StewardshipAppendix", "VersionRecord", "apply_decisions", "bump_minor",
    "confirm", "decide", "diff_items", "get_decision", "impact", "item_view",
    "list_decisions", "reject", "stewardship_appendix", "triage_queue", "verify_log",
]
