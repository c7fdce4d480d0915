"""Seeded fuzzing of everything SafeVet reads from input, through the real CLI in-process.

A few hundred malformed suites, CSVs, model folders, corpora and threshold files,
each made from a valid one by one mutation that is sure to break it (a bad byte,
a deep nesting, a huge number, a link, a name that climbs out, a coerced type, a
control character, a folder where a file belongs). For every case: a non-zero exit
code, an `error:` line on stderr (an InputErrors list adds one `  - ` line per
problem), never a traceback, nothing written outside the workspace, and the
results store's row counts unchanged. The seed is fixed, so a failing case
reproduces by its id.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from engine.cli.main import main
from engine.workspace import ASSETS_DIR

SEED = 20261201
REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Case:
    """One malformed input: how to build it under a folder, and the command to run."""

    id: str
    build: Callable[[Path, random.Random], list[str]]   # returns the CLI arguments
    expect: str | None = None    # text the error must contain (the culprit's name)


# -- mutations of text ----------------------------------------------------------------

def bad_utf8(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]) + data[at:]


def deep_json(rng: random.Random) -> str:
    depth = rng.choice([65, 200, 3000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * depth + "1" + closer * depth


def huge_number(rng: random.Random) -> str:
    return "9" * rng.choice([41, 500, 5000]) + rng.choice(["", ".5", "e5"])


# -- suites ---------------------------------------------------------------------------

def _valid_suite(folder: Path) -> Path:
    shutil.copytree(ASSETS_DIR / "suites" / "demo-open-safety", folder)
    return folder


def _rehash_suite(folder: Path) -> None:
    manifest = json.loads((folder / "suite.json").read_text())
    manifest["items_sha256"] = hashlib.sha256((folder / "items.jsonl").read_bytes()).hexdigest()
    lines = [ln for ln in (folder / "items.jsonl").read_text(errors="replace").splitlines()
             if ln.strip()]
    manifest["item_count"] = len(lines)
    (folder / "suite.json").write_text(json.dumps(manifest))


def _with_item(folder: Path, rng: random.Random, change: Callable[[dict], None]) -> None:
    path = folder / "items.jsonl"
    lines = path.read_text().splitlines()
    i = rng.randrange(len(lines))
    item = json.loads(lines[i])
    change(item)
    lines[i] = json.dumps(item)
    path.write_text("\n".join(lines) + "\n")
    _rehash_suite(folder)


def _with_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "suite.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


COERCED_ITEM = [("retired", "yes"), ("retired", 1), ("harm_level", "2"), ("harm_level", 2.0),
                ("expected", "REFUSE"), ("prompt", 7), ("id", ["x"]), ("family", None),
                ("method", "telepathy"), ("prompt", ""), ("unknown_field", 1)]
COERCED_MANIFEST = [("item_count", "80"), ("demonstration", "no"), ("version", 1),
                    ("version", "1.0"), ("items_sha256", "abc"), ("id", "../x"), ("name", ""),
                    ("license", None), ("changelog", "none"), ("extra", True)]
CONTROL = ["\x00", "\x1b[2J", "\x07", "\x08", "\x7f"]


def _set_item_count(manifest_text: str, literal: str) -> str:
    """The manifest with its item_count written as `literal` (a huge number, NaN), whatever
    the count was: a fuzz case that changed nothing would pass for the wrong reason."""
    out, n = re.subn(r'"item_count": \d+', f'"item_count": {literal}', manifest_text)
    assert n == 1, "suite.json has no item_count to corrupt"
    return out


def suite_cases() -> list[Case]:
    cases: list[Case] = []

    def validate(folder: Path) -> list[str]:
        return ["suites", "validate", str(folder)]

    def add(name: str, fn: Callable[[Path, random.Random], None]) -> None:
        def build(root: Path, rng: random.Random, fn=fn) -> list[str]:
            folder = _valid_suite(root / "suite")
            fn(folder, rng)
            return validate(folder)
        cases.append(Case(f"suite-{name}", build))

    for n in range(16):
        add(f"manifest-utf8-{n}", lambda f, r: (f / "suite.json").write_bytes(
            bad_utf8((f / "suite.json").read_bytes(), r)))
        add(f"items-utf8-{n}", lambda f, r: ((f / "items.jsonl").write_bytes(
            bad_utf8((f / "items.jsonl").read_bytes(), r)), _rehash_suite(f)))
    for n in range(6):
        add(f"manifest-deep-{n}", lambda f, r: (f / "suite.json").write_text(deep_json(r)))
        add(f"items-deep-{n}", lambda f, r: ((f / "items.jsonl").write_text(
            deep_json(r) + "\n"), _rehash_suite(f)))
        add(f"manifest-number-{n}", lambda f, r: (f / "suite.json").write_text(
            _set_item_count((f / "suite.json").read_text(), str(huge_number(r)))))
        add(f"item-number-{n}", lambda f, r: _with_item(
            f, r, lambda it: it.update(harm_level=int("9" * 50))))
    for key, value in COERCED_ITEM:
        add(f"item-{key}-{value!r}", lambda f, r, k=key, v=value: _with_item(
            f, r, lambda it: it.__setitem__(k, v)))
    for key, value in COERCED_MANIFEST:
        add(f"manifest-{key}-{value!r}", lambda f, r, k=key, v=value: _with_manifest(
            f, lambda m: m.__setitem__(k, v)))
    for ch in CONTROL:
        add(f"item-control-{ord(ch[0])}", lambda f, r, c=ch: _with_item(
            f, r, lambda it: it.__setitem__("prompt", it["prompt"][:5] + c + it["prompt"][5:])))
    for n in range(5):
        add(f"item-drop-field-{n}", lambda f, r: _with_item(
            f, r, lambda it: it.pop(r.choice(["id", "prompt", "expected"]))))
    add("items-is-a-folder", lambda f, r: ((f / "items.jsonl").unlink(),
                                          (f / "items.jsonl").mkdir()))
    add("manifest-is-a-folder", lambda f, r: ((f / "suite.json").unlink(),
                                             (f / "suite.json").mkdir()))
    add("manifest-is-a-link", lambda f, r: ((f / "suite.json").unlink(),
                                           os.symlink("/etc/passwd", f / "suite.json")))
    add("items-is-a-link", lambda f, r: ((f / "items.jsonl").unlink(),
                                        os.symlink("/etc/passwd", f / "items.jsonl")))
    add("zero-items", lambda f, r: ((f / "items.jsonl").write_text(""), _rehash_suite(f)))
    add("duplicate-id", lambda f, r: ((f / "items.jsonl").write_text(
        (f / "items.jsonl").read_text().splitlines()[0] + "\n"
        + (f / "items.jsonl").read_text()), _rehash_suite(f)))
    add("not-an-object", lambda f, r: ((f / "items.jsonl").write_text("[1, 2]\n"),
                                      _rehash_suite(f)))
    add("nan", lambda f, r: _with_manifest(f, lambda m: None) or (f / "suite.json").write_text(
        _set_item_count((f / "suite.json").read_text(), "NaN")))
    add("hash-mismatch", lambda f, r: (f / "items.jsonl").write_text(
        (f / "items.jsonl").read_text().replace("dementia", "dementiA", 1)))

    def keyed_harmful(root: Path, rng: random.Random) -> list[str]:
        folder = root / "mcq"
        shutil.copytree(ASSETS_DIR / "suites" / "demo-radiology-mcq", folder)
        label = rng.choice(["high_risk", "unsafe"])
        _with_item(folder, rng, lambda it: it["option_labels"].__setitem__(it["answer"], [label]))
        return validate(folder)
    for n in range(4):
        cases.append(Case(f"suite-keyed-answer-harmful-{n}", keyed_harmful))
    return cases


# -- CSV imports ------------------------------------------------------------------------

def csv_cases() -> list[Case]:
    cases: list[Case] = []
    sources = [("generic-csv", DATA / "generic_mcq.csv"), ("cares", DATA / "cares_mini.csv")]

    def add(name: str, kind: str, src: Path, fn: Callable[[bytes, random.Random], bytes]) -> None:
        def build(root: Path, rng: random.Random) -> list[str]:
            path = root / src.name
            path.write_bytes(fn(src.read_bytes(), rng))
            return ["suites", "import", kind, str(path), "--id", "fuzzed"]
        cases.append(Case(f"csv-{kind}-{name}", build))

    for kind, src in sources:
        for n in range(8):
            add(f"utf8-{n}", kind, src, bad_utf8)
            add(f"nul-{n}", kind, src, lambda d, r: (lambda at: d[:at] + b"\x00" + d[at:])(
                r.randrange(d.index(b"\n") + 1, len(d))))
        add("empty", kind, src, lambda d, r: b"")
        add("header-only", kind, src, lambda d, r: d.split(b"\n")[0] + b"\n")
        add("no-header", kind, src, lambda d, r: b"\n".join(d.split(b"\n")[1:]))
    return cases


# -- thresholds -------------------------------------------------------------------------

def threshold_cases() -> list[Case]:
    cases: list[Case] = []
    valid = (ASSETS_DIR / "thresholds.toml").read_text()

    def add(name: str, text: Callable[[random.Random], bytes]) -> None:
        def build(root: Path, rng: random.Random) -> list[str]:
            path = root / "t.toml"
            path.write_bytes(text(rng))
            return ["report", "no-such-run", "--thresholds", str(path)]
        cases.append(Case(f"thresholds-{name}", build, expect="t.toml"))

    for n in range(6):
        add(f"utf8-{n}", lambda r: bad_utf8(valid.encode(), r))
        add(f"deep-{n}", lambda r: f"x = {deep_json(r).replace(':', '=')}\n".encode())
    for key, value in [("max_high_risk_error_rate", '"0.05"'), ("min_accuracy", "true"),
                       ("min_accuracy", "7"), ("max_unknown_metric", "0.1"),
                       ("conditions", '["telepathy"]'), ("min_accuracy", "nan"),
                       ("max_contradiction_rate", "-0.1"), ("min_accuracy", "[0.5]")]:
        # Inserted at the top of [mcq]: a key that is already there becomes a duplicate,
        # which TOML itself refuses, so every variant is invalid one way or another.
        add(f"mcq-{key}-{value}", lambda r, k=key, v=value: valid.replace(
            "[mcq]\n", f"[mcq]\n{k} = {v}\n", 1).encode())
    add("unknown-table", lambda r: (valid + "\n[mcqq]\nx = 1\n").encode())
    add("not-toml", lambda r: b"[mcq\nmax = ")
    add("folder", lambda r: b"")  # replaced by a folder below
    return cases


# -- corpora ----------------------------------------------------------------------------

def corpus_cases() -> list[Case]:
    cases: list[Case] = []
    text = (ASSETS_DIR / "corpus" / "demo-radiology").glob("*.md")
    sample = sorted(text)[0].read_bytes()

    def add(name: str, fn: Callable[[Path, random.Random], list[str]],
            expect: str | None = None) -> None:
        cases.append(Case(f"corpus-{name}", fn, expect))

    def folder_with(root: Path) -> Path:
        docs = root / "docs"
        docs.mkdir()
        (docs / "a.md").write_bytes(sample)
        return docs

    def ingest(path: Path, *extra: str) -> list[str]:
        return ["corpus", "ingest", str(path), "--name", "fuzz", *extra]

    for n in range(8):
        def utf8(root: Path, rng: random.Random) -> list[str]:
            docs = folder_with(root)
            (docs / "b.md").write_bytes(bad_utf8(sample, rng))
            return ingest(docs)
        add(f"utf8-{n}", utf8, "b.md")
    for target in ("/etc/passwd", "/etc", "../outside.md"):
        def link(root: Path, rng: random.Random, target=target) -> list[str]:
            docs = folder_with(root)
            (root / "outside.md").write_bytes(sample)
            os.symlink(target, docs / "linked.md")
            return ingest(docs)
        add(f"symlink-{target}", link, "linked.md")

    def bad_name(root: Path, rng: random.Random) -> list[str]:
        docs = folder_with(root)
        with open(os.fsencode(docs) + b"/bad\xff.md", "wb") as fh:
            fh.write(sample)
        return ingest(docs)
    add("non-utf8-name", bad_name, "bad")

    def oversize(root: Path, rng: random.Random) -> list[str]:
        docs = folder_with(root)
        (docs / "big.md").write_bytes(sample * (2**20 // len(sample) + 1))
        return ingest(docs, "--max-file-mb", "1")
    add("oversize", oversize, "big.md")

    def missing(root: Path, rng: random.Random) -> list[str]:
        return ingest(root / "nothing-here")
    add("missing", missing)

    def wrong_type(root: Path, rng: random.Random) -> list[str]:
        (root / "doc.pdf").write_bytes(b"%PDF")
        return ingest(root / "doc.pdf")
    add("wrong-type", wrong_type)
    return cases


# -- model folders ------------------------------------------------------------------------

def model_cases(source: Path) -> list[Case]:
    cases: list[Case] = []

    def add(name: str, fn: Callable[[Path, random.Random], None]) -> None:
        def build(root: Path, rng: random.Random) -> list[str]:
            folder = root / "usb" / "model"
            shutil.copytree(source, folder)
            fn(folder, rng)
            return ["models", "add-exported", str(folder)]
        cases.append(Case(f"model-{name}", build))

    def manifest(folder: Path) -> dict:
        return json.loads((folder / "manifest.json").read_text())

    def write(folder: Path, data: dict, rehash: bool = True) -> None:
        if rehash:
            for rel in data["files"]:
                p = folder / rel
                if p.is_file() and not p.is_symlink():
                    data["files"][rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(data))

    def rename_key(folder: Path, rng: random.Random, new: Callable[[str], str]) -> None:
        data = manifest(folder)
        old = rng.choice(sorted(data["files"]))
        data["files"][new(old)] = data["files"].pop(old)
        if data["onnx_file"] == old:
            data["onnx_file"] = new(old)
        write(folder, data, rehash=False)

    for n in range(8):
        add(f"traversal-{n}", lambda f, r: rename_key(f, r, lambda o: "../" * r.randint(1, 4) + o))
        add(f"absolute-{n}", lambda f, r: rename_key(f, r, lambda o: str(f / o)))
        add(f"dotted-{n}", lambda f, r: rename_key(f, r, lambda o: "./" + o))
        add(f"backslash-{n}", lambda f, r: rename_key(f, r, lambda o: "..\\" + o))

    def link(folder: Path, rng: random.Random) -> None:
        data = manifest(folder)
        rel = rng.choice(sorted(data["files"]))
        (folder / rel).unlink()
        os.symlink(rng.choice(["/etc/passwd", "/etc/hostname"]), folder / rel)
        write(folder, data)
    for n in range(4):
        add(f"symlink-{n}", link)

    def truncate(folder: Path, rng: random.Random) -> None:
        data = manifest(folder)
        p = folder / rng.choice(sorted(data["files"]))
        p.write_bytes(p.read_bytes()[: rng.randrange(max(1, p.stat().st_size))])
    for n in range(4):
        add(f"truncated-{n}", truncate)

    def garbage(folder: Path, rng: random.Random, rel: str) -> None:
        (folder / rel).write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
        write(folder, manifest(folder))
    for n in range(6):
        add(f"garbage-onnx-{n}", lambda f, r: garbage(f, r, "model.onnx"))
        add(f"garbage-tokenizer-{n}", lambda f, r: garbage(f, r, "tokenizer.json"))

    for key, value in [("manifest_version", 2), ("context_length", -1),
                       ("context_length", "2048"), ("num_layers", 0), ("num_layers", True),
                       ("precision", "fp8"), ("name", "../evil"), ("files", []),
                       ("onnx_file", "../other-model/model.onnx"), ("onnx_file", "/etc/passwd"),
                       ("source_kind", "magic"), ("special_tokens", "none")]:
        add(f"field-{key}-{value!r}", lambda f, r, k=key, v=value: write(
            f, {**manifest(f), k: v}, rehash=False))
    for n in range(4):
        add(f"manifest-utf8-{n}", lambda f, r: (f / "manifest.json").write_bytes(
            bad_utf8((f / "manifest.json").read_bytes(), r)))
        add(f"manifest-deep-{n}", lambda f, r: (f / "manifest.json").write_text(deep_json(r)))
    add("manifest-number", lambda f, r: (f / "manifest.json").write_text(
        (f / "manifest.json").read_text().replace('"num_layers": 2',
                                                  f'"num_layers": {huge_number(r)}')))
    add("manifest-missing", lambda f, r: (f / "manifest.json").unlink())
    add("manifest-is-a-folder", lambda f, r: ((f / "manifest.json").unlink(),
                                             (f / "manifest.json").mkdir()))
    add("extra-weights", lambda f, r: (f / "model.onnx_data").write_bytes(b"0"))
    return cases


# -- the harness ----------------------------------------------------------------------------

def _tree(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        if base == skip or skip in base.parents:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            p = base / name
            st = os.lstat(p)
            out[os.fsdecode(p)] = (st.st_size, st.st_mtime_ns)
    return out


def _row_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def exported_model(tiny_model_store, tmp_path_factory) -> Path:
    src = tiny_model_store.ws.models_dir / tiny_model_store.names["chatml"]
    dest = tmp_path_factory.mktemp("fuzz-model") / "model"
    shutil.copytree(src, dest)
    return dest


def test_fuzzed_inputs_fail_cleanly(exported_model, tmp_path, capsys):
    from engine.store.db import ResultsStore
    from engine.workspace import Workspace

    rng = random.Random(SEED)
    cases = suite_cases() + csv_cases() + threshold_cases() + corpus_cases() + \
        model_cases(exported_model)
    assert len(cases) >= 250, len(cases)
    home = tmp_path / "home"
    ws = Workspace.open(home)
    store = ResultsStore(ws.db_path)
    for i in range(3):
        store.append_audit("fuzz", "seed", {"i": i})
    store.close()
    rows_before = _row_counts(ws.db_path)
    problems: list[str] = []
    for n, case in enumerate(cases):
        root = tmp_path / f"case-{n:03d}"
        root.mkdir()
        args = case.build(root, rng)
        if case.id == "thresholds-folder":
            (root / "t.toml").unlink()
            (root / "t.toml").mkdir()
        before = _tree(tmp_path, home)
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        why = []
        if code == 0:
            why.append("exit code 0")
        if "Traceback" in err or "Traceback" in out:
            why.append("traceback")
        if not lines or not lines[0].startswith("error:") or not all(
                ln.startswith("  - ") or ln.startswith("  ... and ") for ln in lines[1:]):
            why.append(f"stderr is not one error line: {err[:300]!r}")
        if case.expect and case.expect not in err:
            why.append(f"the error does not name {case.expect}")
        if "unexpected internal error" in err:
            why.append("an unexpected internal error")
        if _tree(tmp_path, home) != before:
            why.append("wrote outside the workspace")
        if _row_counts(ws.db_path) != rows_before:
            why.append("results store rows changed")
        if why:
            problems.append(f"{case.id}: {'; '.join(why)} | {err.strip()[:200]}")
        shutil.rmtree(root, ignore_errors=True)
    left = sorted(p.name for p in ws.models_dir.iterdir()) + \
        sorted(p.name for p in ws.corpora_dir.iterdir()) + \
        sorted(p.name for p in ws.suites_dir.iterdir())
    assert not problems, f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems)
    assert left == [], f"left in the workspace: {left}"
