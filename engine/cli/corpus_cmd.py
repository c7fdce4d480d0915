"""`safevet corpus ...` commands: ingest, list, show, query."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from engine.cli import common
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import Column, print_table

app = typer.Typer(no_args_is_help=True)


def _progress_printer():
    def show(event) -> None:
        if event.done is not None and event.total:
            common.console.print(f"  [{event.done}/{event.total}] {event.message}")
    return show


@app.command("ingest")
def ingest(paths: List[Path] = typer.Argument(..., metavar="PATH",
                                             help="Text/markdown files or folders"),
           name: str = typer.Option(..., "--name", help="Corpus name"),
           chunk_tokens: int = typer.Option(200, help="Chunk size in embedder tokens (new corpus)"),
           overlap_tokens: int = typer.Option(40, help="Overlap between chunks (new corpus)"),
           max_file_mb: int = typer.Option(
               8, "--max-file-mb", min=1, metavar="N",
               help="Refuse any file larger than N MiB (nothing is ingested)"),
           quiet: bool = typer.Option(False, "--quiet", "-q",
                                      help="No progress lines, only notes and the summary")) -> None:
    """Create or update a corpus; unchanged files are skipped, changed ones replaced."""
    from pydantic import ValidationError

    from engine.errors import InputError
    from engine.retrieval.chunking import ChunkSettings
    from engine.retrieval.corpus import corpus_dir, ingest_corpus, _read_manifest

    ws = common.workspace(create=True)
    existing = _read_manifest(corpus_dir(ws, name))
    try:
        settings = (existing.chunking if existing is not None
                    and (chunk_tokens, overlap_tokens) == (200, 40)
                    else ChunkSettings(chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens))
    except ValidationError as exc:
        raise InputError("--chunk-tokens/--overlap-tokens", exc.errors()[0]["msg"]) from None
    report = ingest_corpus(ws, paths, name, progress=None if quiet else _progress_printer(),
                           settings=settings, max_file_bytes=max_file_mb * 2**20)
    for note in report.notes:  # text was changed: the operator must hear it even with -q
        common.console.print(f"note: {note}", markup=False)
    common.console.print(
        f"corpus '{name}': {len(report.added)} added, {len(report.replaced)} replaced, "
        f"{len(report.unchanged)} unchanged; {report.chunk_count} chunks "
        f"({report.seconds:.2f} s)")


@app.command("list")
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List the corpora in the workspace."""
    from engine.retrieval.corpus import list_corpora

    corpora = list_corpora(common.workspace())
    if as_json:
        emit_json("corpora", corpora)
        return
    if not corpora:
        common.console.print("no corpora (add one with 'safevet corpus ingest PATH --name NAME')")
        return
    print_table(common.console, ["name", Column("documents", "right"), Column("chunks", "right"),
                                 "updated"],
                [(m.name, str(len(m.documents)), str(m.chunk_count), m.updated_at)
                 for m in corpora])


@app.command("show")
def show(name: str = typer.Argument(..., metavar="NAME", help="A corpus in the workspace"),
         as_json: bool = JSON_OPTION) -> None:
    """Show a corpus manifest: documents, hashes, chunking, embedder."""
    from engine.errors import NotFoundError
    from engine.retrieval.corpus import _read_manifest, corpus_dir

    m = _read_manifest(corpus_dir(common.workspace(), name))
    if m is None:
        raise NotFoundError(f"no corpus named '{name}'")
    if as_json:
        emit_json("corpus", m)
        return
    c = common.console
    c.print(f"corpus {m.name}: {len(m.documents)} documents, {m.chunk_count} chunks", markup=False)
    c.print(f"  chunking: {m.chunking.chunk_tokens} tokens, overlap {m.chunking.overlap_tokens}")
    c.print(f"  embedder: {m.embedder.get('name')} sha256 {m.embedder.get('model_sha256')}",
            markup=False)
    c.print(f"  created {m.created_at}, updated {m.updated_at}")
    print_table(c, ["document", Column("chunks", "right"), "sha256", "title"],
                [(d.doc_id, str(d.chunks), d.sha256, d.title) for d in m.documents])


@app.command("query")
def query(name: str = typer.Argument(..., metavar="NAME", help="A corpus in the workspace"),
          text: str = typer.Argument(..., metavar="TEXT", help="What to search for"),
          k: int = typer.Option(5, "-k", help="Number of chunks"),
          as_json: bool = JSON_OPTION) -> None:
    """Print the k chunks nearest to TEXT."""
    from engine.retrieval.corpus import open_corpus

    with open_corpus(common.workspace(), name) as corpus:
        hits = corpus.query(text, k)
    if as_json:
        emit_json("corpus_hits", hits, corpus=name, query=text, k=k)
        return
    for rank, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())
        common.console.print(f"{rank}. {h.score:.3f}  {h.id}  ({h.title})", markup=False)
        common.console.print(f"   {snippet[:300]}", markup=False)
