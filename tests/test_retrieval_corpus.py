"""Corpus store on a real Chroma store on disk: ingest, idempotence, replacement, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main as cli
from engine.errors import NotFoundError, SafeVetError
from engine.retrieval.chunking import ChunkSettings
from engine.retrieval.corpus import ingest_corpus, list_corpora, open_corpus

FILLER = "Departments document each decision in the record and follow local protocol. " * 30
DOCS = {
    "gadolinium.md": "# Gadolinium contrast safety\n\nNephrogenic systemic fibrosis follows group I "
                     "gadolinium agents in patients with an eGFR below 30.\n\n" + FILLER,
    "iodinated.md": "# Iodinated contrast reactions\n\nAfter a prior severe reaction to iodinated "
                    "contrast, premedicate with corticosteroids and antihistamines.\n\n" + FILLER,
    "mri_zones.txt": "Zone IV is the magnet room; ferromagnetic objects become projectiles.\n\n"
                     + FILLER,
}


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in DOCS.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _store_state(ws, name):
    with open_corpus(ws, name) as c:
        got = c._collection.get(include=["documents", "metadatas"])
        return sorted(zip(got["ids"], got["documents"], [json.dumps(m, sort_keys=True)
                                                         for m in got["metadatas"]]))


def test_ingest_and_query_on_disk(embedder_ws, docs_dir):
    events = []
    report = ingest_corpus(embedder_ws, [docs_dir], "t", progress=events.append)
    assert sorted(report.added) == sorted(DOCS)
    assert any(e.message == f"embedded {report.chunks_added}/{report.chunks_added} chunks"
               for e in events)
    assert events[-1].message == "3 added, 0 replaced, 0 unchanged"
    assert (embedder_ws.corpora_dir / "t" / "chroma").is_dir()
    with open_corpus(embedder_ws, "t") as c:
        m = c.manifest
        assert m.chunk_count == c.count == report.chunk_count > 3
        assert {d.doc_id for d in m.documents} == set(DOCS)
        assert m.document("mri_zones.txt").title == "mri zones"
        assert m.document("gadolinium.md").title == "Gadolinium contrast safety"
        assert m.embedder["model_sha256"] and m.chunking == ChunkSettings()
        hits = c.query("Which patients are at risk of nephrogenic systemic fibrosis?", 3)
    assert len(hits) == 3
    assert hits[0].doc_id == "gadolinium.md" and "Nephrogenic" in hits[0].text
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].id == f"gadolinium.md::{hits[0].chunk_index}"
    assert Path(hits[0].source_path) == (docs_dir / "gadolinium.md").resolve()
    assert [x.name for x in list_corpora(embedder_ws)] == ["t"]


def test_ingest_twice_is_a_no_op(embedder_ws, docs_dir):
    ingest_corpus(embedder_ws, [docs_dir], "t")
    before = _store_state(embedder_ws, "t")
    manifest_before = (embedder_ws.corpora_dir / "t" / "corpus.json").read_bytes()
    again = ingest_corpus(embedder_ws, [docs_dir], "t")
    assert sorted(again.unchanged) == sorted(DOCS)
    assert not again.changed and again.chunks_added == again.chunks_removed == 0
    assert _store_state(embedder_ws, "t") == before
    assert (embedder_ws.corpora_dir / "t" / "corpus.json").read_bytes() == manifest_before


def test_a_changed_file_replaces_its_chunks(embedder_ws, docs_dir):
    ingest_corpus(embedder_ws, [docs_dir], "t")
    before = dict((i, d) for i, d, _ in _store_state(embedder_ws, "t"))
    (docs_dir / "iodinated.md").write_text(
        "# Iodinated contrast reactions\n\nMetformin is withheld for 48 hours after iodinated "
        "contrast in acute kidney injury.\n", encoding="utf-8")
    report = ingest_corpus(embedder_ws, [docs_dir], "t")
    assert report.replaced == ["iodinated.md"] and report.chunks_added == 1
    after = dict((i, d) for i, d, _ in _store_state(embedder_ws, "t"))
    assert [i for i in after if i.startswith("iodinated.md")] == ["iodinated.md::0"]
    assert not any("premedicate" in d for d in after.values())
    # other documents untouched
    assert {i: d for i, d in after.items() if not i.startswith("iodinated")} == \
        {i: d for i, d in before.items() if not i.startswith("iodinated")}
    with open_corpus(embedder_ws, "t") as c:
        assert c.manifest.chunk_count == len(after)
        top = c.query("How long is metformin withheld after contrast?", 1)[0]
    assert top.id == "iodinated.md::0" and "48 hours" in top.text


def test_unknown_corpus_and_bad_input_are_clear_errors(embedder_ws, tmp_path):
    with pytest.raises(NotFoundError, match="no corpus named 'nope'"):
        open_corpus(embedder_ws, "nope")
    (tmp_path / "x.pdfx").write_text("x")
    with pytest.raises(SafeVetError, match="unsupported file type"):
        ingest_corpus(embedder_ws, [tmp_path / "x.pdfx"], "t")
    with pytest.raises(SafeVetError, match="corpus name"):
        ingest_corpus(embedder_ws, [tmp_path], "../evil")


def test_cli_ingest_list_show_query(embedder_ws, docs_dir, capsys):
    home = str(embedder_ws.home)
    assert cli(["--home", home, "corpus", "ingest", str(docs_dir), "--name", "demo", "-q"]) == 0
    assert "3 added" in capsys.readouterr().out
    assert cli(["--home", home, "corpus", "ingest", str(docs_dir), "--name", "demo", "-q"]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    assert cli(["--home", home, "corpus", "list"]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli(["--home", home, "corpus", "show", "demo", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["corpus"]   # the --json envelope
    assert {d["doc_id"] for d in shown["documents"]} == set(DOCS)
    assert cli(["--home", home, "corpus", "query", "demo", "magnet room projectiles", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("1. ") and "mri_zones.txt::0" in out.splitlines()[0]
    assert cli(["--home", home, "corpus", "show", "missing"]) == 2
