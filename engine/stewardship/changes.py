"""What each review decision may change in an item, checked against that item.

A decision is validated when it is made, not when it is applied: a reviewer who
types a letter the question does not offer hears so at once, and the second
reviewer confirms exactly the change that will land in the next version. The
same function that applies a change is used to validate it, so the two cannot
drift apart.
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import ValidationError

from engine.errors import SafeVetError
from engine.suites.schema import Expected, McqItem, OpenItem, OptionLabel

DecisionKind = Literal["keep", "change_key", "change_labels", "edit_evidence", "retire"]
DECISION_KINDS: tuple[str, ...] = get_args(DecisionKind)
OPTION_LABELS: tuple[str, ...] = get_args(OptionLabel)
EXPECTED_LABELS: tuple[str, ...] = get_args(Expected)

# decision -> (allowed payload fields for MCQ, for open items)
_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "keep": (set(), set()),
    "retire": (set(), set()),
    "change_key": ({"answer", "option_labels"}, {"expected"}),
    "change_labels": ({"option_labels"}, {"harm_level"}),
    "edit_evidence": ({"clean_evidence", "conflict_evidence"}, {"reference_response"}),
}
_REQUIRED: dict[str, tuple[set[str], set[str]]] = {
    "change_key": ({"answer"}, {"expected"}),
    "change_labels": ({"option_labels"}, {"harm_level"}),
}


class DecisionError(SafeVetError):
    """A review decision that cannot be accepted as given."""


def _fail(item_id: str, decision: str, message: str) -> DecisionError:
    return DecisionError(f"item {item_id}, decision {decision}: {message}")


def _check_fields(item: McqItem | OpenItem, decision: str, payload: dict[str, Any]) -> None:
    if decision not in DECISION_KINDS:
        raise DecisionError(f"unknown decision {decision!r}; expected one of "
                            f"{', '.join(DECISION_KINDS)}")
    mcq = isinstance(item, McqItem)
    allowed = _FIELDS[decision][0 if mcq else 1]
    required = _REQUIRED.get(decision, (set(), set()))[0 if mcq else 1]
    if decision == "edit_evidence" and not allowed:
        raise _fail(item.id, decision, "not available for this item kind")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        kind = "multiple-choice" if mcq else "open"
        raise _fail(item.id, decision, f"unexpected field(s) {', '.join(unknown)} for a {kind} "
                    f"item (allowed: {', '.join(sorted(allowed)) or 'none'})")
    missing = sorted(required - set(payload))
    if missing:
        raise _fail(item.id, decision, f"missing field(s) {', '.join(missing)}")
    if decision == "edit_evidence" and not payload:
        raise _fail(item.id, decision, f"give at least one of {', '.join(sorted(allowed))}")


def _check_option_labels(item: McqItem, decision: str, labels: Any) -> dict[str, list[str]]:
    if not isinstance(labels, dict):
        raise _fail(item.id, decision, "option_labels must map option letters to label lists")
    out: dict[str, list[str]] = {}
    for letter, values in labels.items():
        if letter not in item.options:
            raise _fail(item.id, decision, f"option_labels names option {letter!r}, the item "
                        f"offers {', '.join(item.options)}")
        if isinstance(values, str):
            values = [values]
        bad = [v for v in values if v not in OPTION_LABELS]
        if bad:
            raise _fail(item.id, decision, f"unknown label(s) {', '.join(map(str, bad))} on "
                        f"option {letter}; known labels: {', '.join(OPTION_LABELS)}")
        if values:
            out[letter] = sorted(set(values), key=OPTION_LABELS.index)
    return out


def normalise_payload(item: McqItem | OpenItem, decision: str,
                      payload: dict[str, Any] | None) -> dict[str, Any]:
    """The payload in canonical form, or a DecisionError naming what is wrong with it.

    Payloads by decision (MCQ item / open item):
      keep, retire:   {} / {}
      change_key:     {"answer": letter, "option_labels"?: map} / {"expected": label}
      change_labels:  {"option_labels": map} / {"harm_level": 0-3 or None}
      edit_evidence:  {"clean_evidence"?: text, "conflict_evidence"?: text} /
                      {"reference_response": text}
    An `option_labels` map replaces the item's whole map (letters left out lose
    their labels), so what the reviewer saw is exactly what lands.
    """
    payload = dict(payload or {})
    _check_fields(item, decision, payload)
    if item.retired:
        raise _fail(item.id, decision, "the item is already retired in this version")
    if isinstance(item, McqItem) and "option_labels" in payload:
        payload["option_labels"] = _check_option_labels(item, decision, payload["option_labels"])
    if decision == "change_key":
        if isinstance(item, McqItem):
            new = str(payload["answer"]).strip().upper()
            if new not in item.options:
                raise _fail(item.id, decision, f"new key {payload['answer']!r} is not an "
                            f"offered option ({', '.join(item.options)})")
            if new == item.answer:
                raise _fail(item.id, decision, f"{new} is already the key")
            payload["answer"] = new
        else:
            new = str(payload["expected"]).strip().lower()
            if new not in EXPECTED_LABELS:
                raise _fail(item.id, decision, f"expected must be one of "
                            f"{', '.join(EXPECTED_LABELS)}, got {payload['expected']!r}")
            if new == item.expected:
                raise _fail(item.id, decision, f"{new} is already the expected label")
            payload["expected"] = new
    if decision == "change_labels" and isinstance(item, OpenItem):
        level = payload["harm_level"]
        if level is not None and (not isinstance(level, int) or not 0 <= level <= 3):
            raise _fail(item.id, decision, f"harm_level must be 0-3 or null, got {level!r}")
    if decision == "edit_evidence":
        for name, text in payload.items():
            if not isinstance(text, str) or not text.strip():
                raise _fail(item.id, decision, f"{name} must be non-empty text")
            payload[name] = text.strip()
    changed = apply_change(item, decision, payload)
    if decision not in ("keep",) and changed == item:
        raise _fail(item.id, decision, "changes nothing in the item")
    return payload


def apply_change(item: McqItem | OpenItem, decision: str,
                 payload: dict[str, Any]) -> McqItem | OpenItem:
    """The item as it reads after the decision; schema-checked like any loaded item."""
    update: dict[str, Any] = {}
    if decision == "retire":
        update["retired"] = True
    elif decision != "keep":
        update.update(payload)
    if not update:
        return item
    data = item.model_dump(mode="json")
    data.update(update)
    try:
        return type(item).model_validate(data)
    except ValidationError as exc:
        # The schema holds every rule (a key never carries a harm label, among others).
        raise _fail(item.id, decision, "; ".join(e["msg"].removeprefix("Value error, ")
                                                  for e in exc.errors())) from exc


def describe_change(item: McqItem | OpenItem, decision: str, payload: dict[str, Any]) -> str:
    """One line a changelog and a committee can read: what changed from what."""
    if decision == "keep":
        return "kept as is"
    if decision == "retire":
        return "retired"
    if decision == "change_key":
        if isinstance(item, McqItem):
            text = f"key {item.answer} → {payload['answer']}"
            if "option_labels" in payload:
                text += f", option labels {item.option_labels} → {payload['option_labels']}"
            return text
        return f"expected {item.expected} → {payload['expected']}"
    if decision == "change_labels":
        if isinstance(item, McqItem):
            return f"option labels {item.option_labels} → {payload['option_labels']}"
        return f"harm level {item.harm_level} → {payload['harm_level']}"
    return "edited " + ", ".join(sorted(payload))
