"""Reading tabular source files row by row, keeping the line each row came from.

Every importer reports bad input by file, line and field, so the reader that
splits a file into rows is also the one that remembers physical line numbers
(a CSV record with a quoted newline spans several lines; it is reported by the
line it starts on, header = line 1). Problems are collected rather than raised
one at a time, so a user fixing a file sees every bad row in one pass.

Source files are untrusted: they are read through engine.inputfiles (strict
UTF-8, size bound, no folders or links, bounded JSON), and a NUL byte or a
terminal control code is refused here with its line, before csv or the suite
schema ever sees it (csv in Python 3.11+ would otherwise import NUL silently).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InputError, InputErrors
from engine.inputfiles import CONTROL_CHARS, control_char_field, read_text
from engine.suites.io import errors_from_validation, jsonl_objects
from engine.suites.schema import control_char_message

Model = TypeVar("Model", bound=BaseModel)


@dataclass
class Row:
    """One source record: its fields and the physical line it starts on."""

    line: int
    values: dict[str, Any]


@dataclass
class Problems:
    """Errors found while reading one source, raised together at the end."""

    errors: list[InputError] = field(default_factory=list)

    def add(self, file: str | Path, message: str, line: int | None = None,
            field: str | None = None) -> None:
        self.errors.append(InputError(file, message, line=line, field=field))

    def raise_if_any(self) -> None:
        """One problem raises that InputError; several raise InputErrors listing all."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InputErrors(self.errors)


def reject_control_chars(text: str, path: Path) -> None:
    """Refuse a file holding a NUL byte or control code, naming the physical line."""
    found = CONTROL_CHARS.search(text)
    if found:
        raise InputError(path, control_char_message(f"U+{ord(found.group()):04X}"),
                         line=text.count("\n", 0, found.start()) + 1)


def has_control_chars(values: Any, path: Path, line: int | None, problems: Problems) -> bool:
    """Whether a parsed JSON record holds a control character anywhere (recorded if so)."""
    found = control_char_field(values)
    if found:
        problems.add(path, control_char_message(found[1]), line=line, field=found[0])
    return found is not None


def build_item(model: type[Model], path: Path, line: int | None, problems: Problems,
               columns: Mapping[str, str] | None = None, **fields: Any) -> Model | None:
    """The item, or None after recording every schema error by file and line.

    Importers check their own columns first; this is the net for what only the
    suite schema knows (a key labelled as a harm), so nothing an importer
    passes on can surface as a pydantic traceback. `columns` maps a suite
    field (`option_labels`) to the source column the user wrote (`labels_b`).
    """
    try:
        return model(**fields)
    except ValidationError as exc:
        for err in errors_from_validation(path, line, exc):
            column = (columns or {}).get(err.field or "", err.field)
            problems.add(path, err.detail, line=line, field=column)
        return None


def read_csv(path: Path, required: Sequence[str], allowed: Sequence[str] | None = None,
             problems: Problems | None = None) -> list[Row]:
    """Rows of a CSV file as {column: stripped text}, checked against its header.

    A missing required column (or, when `allowed` is given, an unknown one, which
    is usually a typo that would silently drop data) is an error on line 1.
    Ragged rows are recorded in `problems` and skipped; blank lines are ignored.
    """
    problems = problems if problems is not None else Problems()
    text = read_text(path, what="CSV file")
    reject_control_chars(text, path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(path, "empty file (expected a header row)", line=1) from None
    except csv.Error as exc:
        raise InputError(path, f"unreadable CSV header ({exc})", line=1) from exc
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"required column missing (header has: "
                         f"{', '.join(h or '<blank>' for h in header)})", line=1,
                         field=", ".join(missing))
    if allowed is not None:
        unknown = [h for h in header if h and h not in allowed]
        if unknown:
            raise InputError(path, f"unknown column; expected only: {', '.join(allowed)}",
                             line=1, field=", ".join(unknown))
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise InputError(path, "column appears more than once", line=1, field=", ".join(dupes))
    rows: list[Row] = []
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(path, f"unreadable CSV ({exc})", line=start)
            break
        if not record or all(not v.strip() for v in record):
            continue
        if len(record) != len(header):
            problems.add(path, f"expected {len(header)} fields as in the header, got "
                         f"{len(record)} (check quoting of commas and newlines)", line=start)
            continue
        rows.append(Row(start, {h: v.strip() for h, v in zip(header, record) if h}))
    return rows


def read_jsonl(path: Path, problems: Problems | None = None) -> list[Row]:
    """Rows of a JSON-lines file (one object per line); bad lines go to `problems`."""
    problems = problems if problems is not None else Problems()
    rows: list[Row] = []
    for lineno, obj in jsonl_objects(read_text(path, what="JSON-lines file"), path,
                                     problems.errors):
        if not has_control_chars(obj, path, lineno, problems):
            rows.append(Row(lineno, obj))
    return rows


def text_field(row: Row, name: str, path: Path, problems: Problems,
               required: bool = True) -> str | None:
    """A non-empty string field, or None after recording why it is unusable."""
    value = row.values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(path, "required value is missing or empty", line=row.line, field=name)
        return None
    if not isinstance(value, str):
        problems.add(path, f"expected text, got {type(value).__name__}", line=row.line,
                     field=name)
        return None
    return value.strip()


def int_field(row: Row, name: str, path: Path, problems: Problems, low: int,
              high: int) -> int | None:
    """An integer in [low, high] from JSON (2, 2.0) or CSV text ("2")."""
    value = row.values.get(name)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        problems.add(path, f"required value is missing (expected an integer {low}-{high})",
                     line=row.line, field=name)
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            as_float = float(value)
            number = int(as_float) if as_float.is_integer() else None
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        problems.add(path, f"expected an integer {low}-{high}, got {value!r}", line=row.line,
                     field=name)
        return None
    return number
