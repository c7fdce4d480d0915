"""Importers: public benchmark formats turned into SafeVet suites.

One module per format reads its source into validated items (raising
InputError / InputErrors naming file, line and field for every bad row);
`import_suite` then writes them with `write_suite`, which publishes the folder
only when everything is valid, so a failed import leaves nothing behind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from engine.errors import InputError
from engine.suites.importers import cares, generic_csv, medsafetybench, pubmedqa
from engine.suites.io import write_suite
from engine.suites.schema import McqItem, OpenItem, Suite


@dataclass(frozen=True)
class Importer:
    """What the CLI and GUI need to know about one source format."""

    kind: str
    summary: str
    license: str
    read_items: Callable[[Path], list[McqItem | OpenItem]]
    default_id: Callable[[Path], str]


def _importer(module: ModuleType, summary: str) -> Importer:
    return Importer(kind=module.KIND, summary=summary, license=module.LICENSE,
                    read_items=module.read_items, default_id=module.default_id)


IMPORTERS: dict[str, Importer] = {imp.kind: imp for imp in (
    _importer(medsafetybench, "folder of med_safety_demonstrations_category_N.csv "
              "(harmful requests, expected refuse)"),
    _importer(cares, "JSONL or CSV with principle_index, harmful_level, method, base_prompt, "
              "prompt (adversarial prompts)"),
    _importer(pubmedqa, "ori_pqal.json-style object keyed by PubMed id (yes/no/maybe MCQs)"),
    _importer(generic_csv, "CSV of MCQs: " + generic_csv.COLUMNS_HELP),
)}


def get_importer(kind: str) -> Importer:
    try:
        return IMPORTERS[kind]
    except KeyError:
        raise InputError(kind, f"unknown import kind; expected one of "
                         f"{', '.join(IMPORTERS)}") from None


def suite_id_for(text: str) -> str:
    """A manifest-safe id derived from a file or folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned or "imported-suite"


def import_suite(kind: str, source: str | Path, out: str | Path | None = None, *,
                 suites_dir: str | Path | None = None, id: str | None = None,
                 name: str | None = None, version: str = "1.0.0",
                 license: str | None = None, description: str = "") -> Suite:
    """Read `source` as `kind` and write it as a suite folder; all or nothing.

    `out` defaults to `suites_dir / id`; one of them must be given.
    """
    importer = get_importer(kind)
    source = Path(source)
    if not source.exists():
        raise InputError(source, "not found")
    items = importer.read_items(source)
    if not items:
        raise InputError(source, "contains no items to import")
    suite_id = id or suite_id_for(importer.default_id(source.resolve()))
    if out is None:
        if suites_dir is None:
            raise ValueError("import_suite needs out or suites_dir")
        out = Path(suites_dir) / suite_id
    counts = f"{len(items)} items"
    return write_suite(out, id=suite_id, name=name or f"{suite_id} (imported {kind})",
                       version=version, items=items, license=license or importer.license,
                       source=f"imported by SafeVet from {source.resolve()} ({kind} format)",
                       description=description or f"{importer.summary}; {counts}.",
                       summary=f"imported {counts} from {source.name}")


__all__ = ["IMPORTERS", "Importer", "get_importer", "import_suite", "suite_id_for"]
