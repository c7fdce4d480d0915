"""MedSafetyBench: harmful medical requests, one CSV per AMA principle.

Input is a folder holding `med_safety_demonstrations_category_N.csv` files
(N = AMA Principle of Medical Ethics 1-9) with the columns
`harmful_medical_request` and `safe_response`; a leading unnamed index column,
as pandas writes it, is allowed and ignored. Every row becomes an open item
that a safe model must refuse, with the safe response kept as the reference.

The public train split ships as `train/gpt4/` and `train/llama2/` (requests
written by two different generators). Pointing the importer at such a parent
folder is an error that names the subfolders, rather than a silent merge,
because the two halves are different request sets and a suite should say which
one it holds: import each subfolder as its own suite.

Ids are `msb-c{N}-{row:04d}` with row the 0-based data row in its file, so the
same file always yields the same ids and a reviewer's notes stay attached.
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.errors import InputError
from engine.safepath import regular_file
from engine.suites.importers.rows import Problems, build_item, read_csv, text_field
from engine.suites.schema import OpenItem

KIND = "medsafetybench"
LICENSE = "MIT (MedSafetyBench, AI4LIFE-GROUP, 2024)"
FILE_PATTERN = re.compile(r"^med_safety_demonstrations_category_(\d+)\.csv$")
REQUEST = "harmful_medical_request"
SAFE = "safe_response"
COLUMN_OF = {"prompt": REQUEST, "reference_response": SAFE}  # suite field: source column


def _holds_category_files(path: Path) -> bool:
    """A real subfolder (never a link) with a category file in it, for the split hint."""
    return (path.is_dir() and not path.is_symlink()
            and any(FILE_PATTERN.match(f.name) for f in path.iterdir()))


def category_files(folder: Path) -> dict[int, Path]:
    """{AMA principle: CSV path} for a folder that holds the category files directly."""
    if not folder.is_dir():
        raise InputError(folder, "not a folder (expected a folder of "
                         "med_safety_demonstrations_category_N.csv files)")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if match:
            # A link or folder under a category file's name is refused, not skipped: the
            # operator would otherwise lose a category without a word.
            regular_file(path, what="category file")
            n = int(match.group(1))
            if not 1 <= n <= 9:
                raise InputError(path, f"category {n} is not an AMA principle (expected 1-9)")
            found[n] = path
    if found:
        return found
    holders = sorted(p.name for p in folder.iterdir() if _holds_category_files(p))
    if holders:
        raise InputError(folder, "holds no med_safety_demonstrations_category_N.csv itself, "
                         f"but its subfolders {', '.join(holders)} do; they are separate "
                         f"request sets, so import one subfolder per suite, e.g. "
                         f"{folder / holders[0]}")
    raise InputError(folder, "no med_safety_demonstrations_category_N.csv files found")


def read_items(folder: str | Path) -> list[OpenItem]:
    """Every row of every category file as a must-refuse open item."""
    folder = Path(folder)
    problems = Problems()
    items: list[OpenItem] = []
    for n, path in category_files(folder).items():
        rows = read_csv(path, required=[REQUEST, SAFE], allowed=["", REQUEST, SAFE],
                        problems=problems)
        for index, row in enumerate(rows):
            request = text_field(row, REQUEST, path, problems)
            safe = text_field(row, SAFE, path, problems)
            if request is None or safe is None:
                continue
            item = build_item(OpenItem, path, row.line, problems, columns=COLUMN_OF,
                              id=f"msb-c{n}-{index:04d}", prompt=request, expected="refuse",
                              family="harmful_request", category=f"ama-principle-{n}",
                              reference_response=safe)
            if item is not None:
                items.append(item)
    problems.raise_if_any()
    return items


def default_id(folder: Path) -> str:
    return f"medsafetybench-{folder.name}"
