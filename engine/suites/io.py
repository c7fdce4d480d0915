"""Reading and writing suite folders (`suite.json` + `items.jsonl`).

Validation collects every problem in one pass and rejects the suite whole, so a
reviewer fixing a file sees all its errors at once, and a half-valid suite is
never scored. Writing goes through a temporary folder renamed into place, so an
interrupted import leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import re
import reprlib
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import TypeAdapter, ValidationError

from engine.errors import InputError, InputErrors
from engine.hashing import sha256_file
from engine.inputfiles import parse_json, read_text
from engine.safepath import UnsafePathError
from engine.suites.schema import ChangelogEntry, McqItem, OpenItem, Suite, SuiteItem, SuiteManifest

MANIFEST_NAME = "suite.json"
ITEMS_NAME = "items.jsonl"
_ITEM_ADAPTER: TypeAdapter = TypeAdapter(SuiteItem)


def _field_path(loc: tuple) -> str:
    # pydantic puts the union tag first ("mcq"/"open"); the user never typed it.
    parts = [str(p) for p in loc if p not in ("mcq", "open")]
    return ".".join(parts) or "(item)"


def _describe(err: dict) -> str:
    msg = err["msg"]
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (not part of the suite format)"
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    if err["type"].endswith("_type"):
        # Strict types: show what was written, so `"yes"` for a boolean is obvious.
        return f"{msg}, got {reprlib.repr(err.get('input'))}"
    return msg


# Whole-item checks name their field as "field: ..."; nested ones as "options.B: ...".
_NAMED_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.+)$", re.S)


def errors_from_validation(file: str | Path, line: int | None,
                           exc: ValidationError) -> list[InputError]:
    """One InputError per pydantic error, with the field the user wrote (importers use it
    too, so an item refused on import reads the same as one refused on load)."""
    out = []
    for err in exc.errors():
        field, detail = _field_path(err["loc"]), _describe(err)
        named = _NAMED_FIELD.match(detail)
        if field == "(item)" and named:
            field, detail = named.group(1), named.group(2)
        out.append(InputError(file, detail, line=line, field=field))
    return out


def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """(physical line number, line) of each non-blank line.

    Split on newline only: str.splitlines also breaks at U+2028, U+0085 and
    U+001C-U+001E, which are legal inside a JSON string, so it would cut a
    valid record in two and shift every later line number.
    """
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield lineno, raw


def jsonl_objects(text: str, path: Path, errors: list[InputError]) -> Iterator[tuple[int, dict]]:
    """(line, object) of each JSON-lines record; unparseable lines go to `errors`."""
    for lineno, raw in jsonl_lines(text):
        try:
            obj = parse_json(raw, file=path, line=lineno)
        except InputError as exc:
            errors.append(exc)
            continue
        if not isinstance(obj, dict):
            errors.append(InputError(path, "expected a JSON object on each line", line=lineno))
            continue
        yield lineno, obj


def _validated_item(obj: dict, path: Path, lineno: int,
                    errors: list[InputError]) -> McqItem | OpenItem | None:
    obj.setdefault("kind", "mcq" if "options" in obj else "open")
    if obj["kind"] not in ("mcq", "open"):
        errors.append(InputError(path, f"expected 'mcq' or 'open', got {obj['kind']!r}",
                                 line=lineno, field="kind"))
        return None
    try:
        return _ITEM_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        errors.extend(errors_from_validation(path, lineno, exc))
        return None


def parse_items(path: Path, text: str | None = None) -> list[McqItem | OpenItem]:
    """Parse `items.jsonl` (or its already-read `text`), raising InputErrors listing every
    bad line; a file with no item at all is an error too."""
    if text is None:
        text = read_text(path, what=ITEMS_NAME)
    errors: list[InputError] = []
    items: list[McqItem | OpenItem] = []
    seen: dict[str, int] = {}
    for lineno, obj in jsonl_objects(text, path, errors):
        item = _validated_item(obj, path, lineno, errors)
        if item is None:
            continue
        if item.id in seen:
            errors.append(InputError(path, f"duplicate id {item.id!r} (first on line "
                                     f"{seen[item.id]})", line=lineno, field="id"))
            continue
        seen[item.id] = lineno
        items.append(item)
    if errors:
        raise InputErrors(errors)
    if not items:
        raise InputError(path, "no items: a suite needs at least one item, one JSON object "
                               "per line")
    return items


def _require(path: Path, missing: str) -> None:
    """A clear 'missing' message; a dangling link still exists and is refused as a link."""
    if not os.path.lexists(path):
        raise InputError(path, missing)


def _read_manifest(path: Path) -> SuiteManifest:
    _require(path, "missing: a suite folder needs suite.json and items.jsonl")
    obj = parse_json(read_text(path, what=MANIFEST_NAME), file=path)
    if not isinstance(obj, dict):
        raise InputError(path, "expected a JSON object (the suite's manifest)", line=1)
    try:
        return SuiteManifest.model_validate(obj)
    except ValidationError as exc:
        raise InputErrors(errors_from_validation(path, None, exc)) from None


def load_suite(folder: str | Path) -> Suite:
    """Load a suite, checking its items hash and item count against the manifest."""
    folder = Path(folder)
    if folder.is_symlink():
        raise UnsafePathError(folder, "is a symbolic link to a suite folder; SafeVet does not "
                                      "follow links in input (copy the folder itself)")
    if not folder.is_dir():
        raise InputError(folder, "not a suite folder (expected a directory with suite.json)")
    manifest_path = folder / MANIFEST_NAME
    items_path = folder / ITEMS_NAME
    manifest = _read_manifest(manifest_path)
    _require(items_path, "missing: the suite's items file")
    text = read_text(items_path, what=ITEMS_NAME)
    actual = sha256_file(items_path)
    if actual != manifest.items_sha256:
        raise InputError(manifest_path,
                         f"items.jsonl has sha256 {actual}, the manifest says "
                         f"{manifest.items_sha256}: the items were changed after the suite "
                         f"was written (edit through SafeVet, or re-validate and re-hash)",
                         field="items_sha256")
    items = parse_items(items_path, text)
    if len(items) != manifest.item_count:
        raise InputError(manifest_path, f"manifest says {manifest.item_count} items, "
                         f"items.jsonl has {len(items)}", field="item_count")
    return Suite(manifest=manifest, items=items, path=str(folder))


def validate_suite_dir(folder: str | Path) -> Suite:
    return load_suite(folder)


def _item_line(item: McqItem | OpenItem) -> str:
    return json.dumps(item.model_dump(mode="json", exclude_defaults=False), ensure_ascii=False,
                      sort_keys=False)


def _new_manifest(folder: Path, *, version: str, item_count: int,
                  changelog: list[ChangelogEntry] | None, summary: str | None,
                  **fields: object) -> SuiteManifest:
    """The manifest for `folder`, its changelog ending with this version; a bad --name,
    --version or a source file name holding a control code is an InputError, not a crash."""
    try:
        log = list(changelog or [])
        if not log or log[-1].version != version:
            log.append(ChangelogEntry(version=version, date=date.today(),
                                      summary=summary or f"{item_count} items written"))
        return SuiteManifest(version=version, item_count=item_count, changelog=log, **fields)
    except ValidationError as exc:
        raise InputErrors(errors_from_validation(folder / MANIFEST_NAME, None, exc)) from None


def write_suite(folder: str | Path, *, id: str, name: str, version: str, items: Iterable,
                license: str, source: str, description: str = "", demonstration: bool = False,
                changelog: list[ChangelogEntry] | None = None, summary: str | None = None,
                overwrite: bool = False) -> Suite:
    """Write a suite folder atomically: everything lands, or nothing does."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise InputError(folder, "already exists; choose another --out or remove it first")
    items = list(items)
    if not items:
        raise InputError(folder, "no items to write: a suite needs at least one item")
    ids = set()
    for it in items:
        if it.id in ids:
            raise InputError(folder, f"duplicate item id {it.id!r}", field="id")
        ids.add(it.id)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        items_path = tmp / ITEMS_NAME
        with open(items_path, "w", encoding="utf-8", newline="\n") as fh:
            for it in items:
                fh.write(_item_line(it) + "\n")
        manifest = _new_manifest(folder, id=id, name=name, version=version,
                                 description=description, license=license, source=source,
                                 item_count=len(items), items_sha256=sha256_file(items_path),
                                 demonstration=demonstration, changelog=changelog,
                                 summary=summary)
        (tmp / MANIFEST_NAME).write_text(
            json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8")
        load_suite(tmp)  # never publish a suite we could not read back
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_suite(folder)
