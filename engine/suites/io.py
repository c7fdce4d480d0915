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
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Iterable

from pydantic import TypeAdapter, ValidationError

from engine.errors import InputError, InputErrors
from engine.hashing import sha256_file
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
        msg = msg[len("Value error, "):]
    return msg


def _errors_from_validation(file: Path, line: int | None, exc: ValidationError) -> list[InputError]:
    out = []
    for err in exc.errors():
        field, detail = _field_path(err["loc"]), _describe(err)
        # Whole-item checks (answer, option_labels) name their field as "field: ...".
        named = re.match(r"^([A-Za-z_][A-Za-z0-9_]*): (.+)$", detail, re.S)
        if field == "(item)" and named:
            field, detail = named.group(1), named.group(2)
        out.append(InputError(file, detail, line=line, field=field))
    return out


def parse_items(path: Path) -> list[McqItem | OpenItem]:
    """Parse `items.jsonl`, raising InputErrors listing every bad line."""
    errors: list[InputError] = []
    items: list[McqItem | OpenItem] = []
    seen: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(InputError(path, f"invalid JSON ({exc.msg} at column {exc.colno})",
                                     line=lineno))
            continue
        if not isinstance(obj, dict):
            errors.append(InputError(path, "expected a JSON object per line", line=lineno))
            continue
        obj.setdefault("kind", "mcq" if "options" in obj else "open")
        if obj["kind"] not in ("mcq", "open"):
            errors.append(InputError(path, f"expected 'mcq' or 'open', got {obj['kind']!r}",
                                     line=lineno, field="kind"))
            continue
        try:
            item = _ITEM_ADAPTER.validate_python(obj)
        except ValidationError as exc:
            errors.extend(_errors_from_validation(path, lineno, exc))
            continue
        if item.id in seen:
            errors.append(InputError(path, f"duplicate id {item.id!r} (first on line "
                                     f"{seen[item.id]})", line=lineno, field="id"))
            continue
        seen[item.id] = lineno
        items.append(item)
    if errors:
        raise InputErrors(errors)
    return items


def _read_manifest(path: Path) -> SuiteManifest:
    if not path.exists():
        raise InputError(path, "missing: a suite folder needs suite.json and items.jsonl")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg} at column {exc.colno})",
                         line=exc.lineno) from exc
    try:
        return SuiteManifest.model_validate(obj)
    except ValidationError as exc:
        raise InputErrors(_errors_from_validation(path, None, exc)) from exc


def load_suite(folder: str | Path) -> Suite:
    """Load a suite, checking its items hash and item count against the manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "not a suite folder (expected a directory with suite.json)")
    manifest_path = folder / MANIFEST_NAME
    items_path = folder / ITEMS_NAME
    manifest = _read_manifest(manifest_path)
    if not items_path.exists():
        raise InputError(items_path, "missing: the suite's items file")
    actual = sha256_file(items_path)
    if actual != manifest.items_sha256:
        raise InputError(manifest_path,
                         f"items.jsonl has sha256 {actual}, the manifest says "
                         f"{manifest.items_sha256}: the items were changed after the suite "
                         f"was written (edit through SafeVet, or re-validate and re-hash)",
                         field="items_sha256")
    items = parse_items(items_path)
    if len(items) != manifest.item_count:
        raise InputError(manifest_path, f"manifest says {manifest.item_count} items, "
                         f"items.jsonl has {len(items)}", field="item_count")
    return Suite(manifest=manifest, items=items, path=str(folder))


def validate_suite_dir(folder: str | Path) -> Suite:
    return load_suite(folder)


def _item_line(item: McqItem | OpenItem) -> str:
    return json.dumps(item.model_dump(mode="json", exclude_defaults=False), ensure_ascii=False,
                      sort_keys=False)


def write_suite(folder: str | Path, *, id: str, name: str, version: str, items: Iterable,
                license: str, source: str, description: str = "", demonstration: bool = False,
                changelog: list[ChangelogEntry] | None = None, summary: str | None = None,
                overwrite: bool = False) -> Suite:
    """Write a suite folder atomically: everything lands, or nothing does."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise InputError(folder, "already exists; choose another --out or remove it first")
    items = list(items)
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
        log = list(changelog or [])
        if not log or log[-1].version != version:
            log.append(ChangelogEntry(version=version, date=date.today(),
                                      summary=summary or f"{len(items)} items written"))
        manifest = SuiteManifest(id=id, name=name, version=version, description=description,
                                 license=license, source=source, item_count=len(items),
                                 items_sha256=sha256_file(items_path), demonstration=demonstration,
                                 changelog=log)
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
