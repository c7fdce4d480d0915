"""Corpora: documents chunked into a persistent Chroma collection in the workspace.

Layout of `ws.corpora_dir/NAME/`: `chroma/` (the Chroma store), `corpus.json`
(the manifest a report cover prints: documents with sha256s, chunking settings,
embedder identity) and `.lock` (see lock.py).

Ingest is idempotent per document: a document whose sha256 matches the
manifest is skipped; a changed one has all its chunks deleted and re-added, so
no stale chunk of an older version can ever be retrieved. The manifest is
written after the store, so a crash in between only makes the next ingest redo
that document.

Every source file is read and checked before the store is opened, so bad input
(a link, an oversize file, bytes that are not UTF-8) leaves an existing corpus
exactly as it was and creates nothing for a new name. A new corpus killed
mid-ingest leaves a folder with a store but no manifest (a half-store): the
next ingest under that name starts it afresh, and `remove_half_stores` clears
the ones nobody is writing.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.errors import InputError, NotFoundError, SafeVetError
from engine.events import ProgressCallback, emit
from engine.retrieval.chunking import ChunkSettings, TextChunk, chunk_text
from engine.retrieval.documents import DEFAULT_MAX_FILE_BYTES, SourceDocument, read_documents
from engine.retrieval.embedder import OnnxEmbedder, load_default_embedder
from engine.retrieval.lock import LOCK_NAME, StoreLock, StoreLockedError
from engine.workspace import CORPUS_MANIFEST, Workspace

MANIFEST_NAME = CORPUS_MANIFEST
STORE_NAME = "chroma"
COLLECTION = "chunks"
ADD_BATCH = 64
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class CorpusDocument(BaseModel):
    doc_id: str
    title: str
    source_path: str
    sha256: str
    chunks: int
    tokens: int
    ingested_at: str


class CorpusManifest(BaseModel):
    """What a report says about the corpus: which documents, cut how, embedded by what."""

    name: str
    created_at: str
    updated_at: str
    documents: list[CorpusDocument] = Field(default_factory=list)
    chunk_count: int = 0
    chunking: ChunkSettings
    embedder: dict[str, Any]
    store: str = "chromadb"

    def document(self, doc_id: str) -> CorpusDocument | None:
        return next((d for d in self.documents if d.doc_id == doc_id), None)


class IngestReport(BaseModel):
    name: str
    added: list[str] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunk_count: int = 0
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)  # e.g. control characters removed

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


class RetrievedChunk(BaseModel):
    """One retrieved chunk; `score` is cosine similarity (1 = identical direction)."""

    id: str
    doc_id: str
    title: str
    text: str
    source_path: str
    chunk_index: int
    score: float
    char_start: int = 0
    char_end: int = 0
    tokens: int = 0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise InputError("--name", f"corpus name {name!r} must be letters, digits, '.', '_' "
                                   "or '-' (up to 63), starting with a letter or digit")
    return name


def corpus_dir(ws: Workspace, name: str) -> Path:
    return ws.corpora_dir / check_name(name)


def _read_manifest(folder: Path) -> CorpusManifest | None:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    return CorpusManifest.model_validate_json(path.read_text(encoding="utf-8"))


def _write_manifest(folder: Path, manifest: CorpusManifest) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".corpus-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(manifest.model_dump_json(indent=2))
    os.replace(tmp, folder / MANIFEST_NAME)


def chunk_id(doc_id: str, index: int) -> str:
    return f"{doc_id}::{index}"


def _forget_chroma(store: Path) -> None:
    """Drop Chroma's per-process cache of a store about to be deleted; otherwise the next
    client for the same path reuses the old, deleted database."""
    module = sys.modules.get("chromadb.api.shared_system_client")
    if module is None:  # chromadb never loaded here: nothing cached
        return
    SharedSystemClient = module.SharedSystemClient
    SharedSystemClient._identifier_to_refcount.pop(str(store), None)
    system = SharedSystemClient._identifier_to_system.pop(str(store), None)
    if system is not None:
        system.stop()


def _delete_store(folder: Path) -> None:
    """Delete the Chroma store in folder; the caller holds the folder's lock."""
    store = folder / STORE_NAME
    _forget_chroma(store)
    if store.exists():
        shutil.rmtree(store)


class Corpus:
    """An open corpus; holds the store lock until close().

    Use as a context manager, or keep it open for a whole run: one process
    owns a store at a time.
    """

    def __init__(self, ws: Workspace, name: str, create: bool = False,
                 settings: ChunkSettings | None = None,
                 embedder: OnnxEmbedder | None = None) -> None:
        import chromadb
        from chromadb.config import Settings

        from engine.offline import enforce_offline_environment
        from engine.retrieval.chroma_ef import SafeVetEmbeddingFunction

        enforce_offline_environment()
        self.ws = ws
        self.name = check_name(name)
        self.folder = corpus_dir(ws, name)
        if _read_manifest(self.folder) is None and not create:
            raise NotFoundError(f"no corpus named '{name}' in {ws.corpora_dir} "
                                f"(known: {', '.join(m.name for m in list_corpora(ws)) or 'none'})")
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = StoreLock(self.folder, f"corpus '{name}'")
        shared = lock.held_by_this_process
        self._lock = lock.acquire()
        try:
            existing = _read_manifest(self.folder)  # re-read: it may have changed before the lock
            if existing is None and create and not shared:
                _delete_store(self.folder)  # a half-store: chunks no manifest accounts for
            self.embedder = embedder or load_default_embedder(ws)
            if existing is not None:
                want = settings or existing.chunking
                if want != existing.chunking:
                    raise SafeVetError(
                        f"corpus '{name}' was chunked with {existing.chunking.model_dump()}; "
                        "create a new corpus to use other chunk settings")
                if existing.embedder.get("model_sha256") != self.embedder.model_sha256:
                    raise SafeVetError(
                        f"corpus '{name}' was embedded by model "
                        f"{existing.embedder.get('model_sha256', '?')[:12]}, the installed "
                        f"embedder is {self.embedder.model_sha256[:12]}; re-ingest into a new corpus")
                self._manifest = existing
            else:
                stamp = _now()
                self._manifest = CorpusManifest(name=name, created_at=stamp, updated_at=stamp,
                                                chunking=settings or ChunkSettings(),
                                                embedder=self.embedder.identity)
            self._ef = SafeVetEmbeddingFunction(self.embedder.folder, embedder=self.embedder)
            self._client = chromadb.PersistentClient(
                path=str(self.folder / STORE_NAME),
                settings=Settings(anonymized_telemetry=False, allow_reset=False))
            self._collection = self._client.get_or_create_collection(
                COLLECTION, embedding_function=self._ef,
                configuration={"hnsw": {"space": "cosine"}})
        except BaseException:
            self._lock.release()
            raise

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        self._lock.release()
        self._closed = True

    def __del__(self) -> None:  # a forgotten close() must not keep the store locked
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------
    @property
    def manifest(self) -> CorpusManifest:
        return self._manifest

    @property
    def count(self) -> int:
        return self._collection.count()

    def query(self, text: str, k: int) -> list[RetrievedChunk]:
        """The k chunks nearest to `text`, best first."""
        if getattr(self, "_closed", False):
            raise SafeVetError(f"corpus '{self.name}' was closed; open it again to query it")
        n = min(int(k), self.count)
        if n <= 0 or not text.strip():
            return []
        res = self._collection.query(query_texts=[text], n_results=n,
                                     include=["documents", "metadatas", "distances"])
        out = []
        for cid, doc, meta, dist in zip(res["ids"][0], res["documents"][0],
                                        res["metadatas"][0], res["distances"][0]):
            out.append(RetrievedChunk(
                id=cid, doc_id=str(meta["doc_id"]), title=str(meta["title"]), text=doc or "",
                source_path=str(meta["source_path"]), chunk_index=int(meta["chunk_index"]),
                score=round(1.0 - float(dist), 6), char_start=int(meta.get("char_start", 0)),
                char_end=int(meta.get("char_end", 0)), tokens=int(meta.get("tokens", 0))))
        return out

    def chunk_ids(self, doc_id: str | None = None) -> list[str]:
        where = {"doc_id": doc_id} if doc_id else None
        return sorted(self._collection.get(where=where, include=[])["ids"])

    # -- writing -----------------------------------------------------------
    def _delete_document(self, doc_id: str) -> int:
        old = self._collection.get(where={"doc_id": doc_id}, include=[])["ids"]
        if old:
            self._collection.delete(ids=old)
        return len(old)

    def _add_chunks(self, pending: list[tuple[SourceDocument, TextChunk]],
                    progress: ProgressCallback | None) -> None:
        """Embed and add chunks in batches: one Chroma write per batch, not per document."""
        total = len(pending)
        for start in range(0, total, ADD_BATCH):
            batch = pending[start:start + ADD_BATCH]
            texts = [c.text for _, c in batch]
            self._collection.add(
                ids=[chunk_id(d.doc_id, c.index) for d, c in batch],
                documents=texts,
                embeddings=self.embedder.embed(texts),
                metadatas=[{"doc_id": d.doc_id, "title": d.title, "source_path": d.source_path,
                            "chunk_index": c.index, "sha256": d.sha256,
                            "char_start": c.char_start, "char_end": c.char_end,
                            "tokens": c.tokens} for d, c in batch])
            done = min(start + ADD_BATCH, total)
            emit(progress, "ingest", f"embedded {done}/{total} chunks", done, total)

    def ingest(self, paths: list[Path], progress: ProgressCallback | None = None,
               max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> IngestReport:
        """Read and check every file first, then add them (see ingest_documents)."""
        docs = read_documents([Path(p) for p in paths], max_file_bytes=max_file_bytes)
        return self.ingest_documents(docs, progress=progress)

    def ingest_documents(self, docs: list[SourceDocument],
                         progress: ProgressCallback | None = None) -> IngestReport:
        """Add new documents, replace changed ones, skip unchanged ones."""
        started = time.perf_counter()
        report = IngestReport(name=self.name, notes=[d.note for d in docs if d.note])
        known = {d.doc_id: d for d in self._manifest.documents}
        emit(progress, "ingest", f"checking {len(docs)} document(s)", 0, None)
        pending: list[tuple[SourceDocument, TextChunk]] = []
        for doc in docs:
            prior = known.get(doc.doc_id)
            if prior is not None and prior.sha256 == doc.sha256:
                report.unchanged.append(doc.doc_id)
                if prior.source_path != doc.source_path:
                    known[doc.doc_id] = prior.model_copy(update={"source_path": doc.source_path})
                continue
            report.chunks_removed += self._delete_document(doc.doc_id)
            chunks = chunk_text(doc.text, self.embedder.counter, self._manifest.chunking)
            pending.extend((doc, c) for c in chunks)
            report.chunks_added += len(chunks)
            (report.replaced if prior is not None else report.added).append(doc.doc_id)
            known[doc.doc_id] = CorpusDocument(doc_id=doc.doc_id, title=doc.title,
                                               source_path=doc.source_path, sha256=doc.sha256,
                                               chunks=len(chunks),
                                               tokens=sum(c.tokens for c in chunks),
                                               ingested_at=_now())
        self._add_chunks(pending, progress)
        changed = report.changed or any(
            known[d.doc_id] != d for d in self._manifest.documents) or not (
            self.folder / MANIFEST_NAME).is_file()
        if changed:
            self._manifest = self._manifest.model_copy(update={
                "documents": sorted(known.values(), key=lambda d: d.doc_id),
                "chunk_count": self.count, "updated_at": _now()})
            _write_manifest(self.folder, self._manifest)
        report.chunk_count = self._manifest.chunk_count
        report.seconds = round(time.perf_counter() - started, 3)
        emit(progress, "ingest", f"{len(report.added)} added, {len(report.replaced)} replaced, "
                                 f"{len(report.unchanged)} unchanged", 1, 1)
        return report


def ingest_corpus(ws: Workspace, paths: list[Path], name: str,
                  progress: ProgressCallback | None = None,
                  settings: ChunkSettings | None = None,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> IngestReport:
    """Create or update corpus `name` from text/markdown files or folders.

    The files are read and checked before the store is opened, so a refused
    file leaves the corpus (or the absence of one) exactly as it was.
    """
    if not paths:
        raise InputError("PATH", "give at least one file or folder to ingest")
    check_name(name)
    emit(progress, "ingest", f"reading {len(paths)} path(s)", 0, None)
    docs = read_documents([Path(p) for p in paths], max_file_bytes=max_file_bytes)
    with Corpus(ws, name, create=True, settings=settings) as corpus:
        return corpus.ingest_documents(docs, progress=progress)


def open_corpus(ws: Workspace, name: str) -> Corpus:
    """Open an existing corpus for querying; close() it (or use `with`) when done."""
    return Corpus(ws, name)


def list_corpora(ws: Workspace) -> list[CorpusManifest]:
    out = []
    if ws.corpora_dir.is_dir():
        for folder in sorted(ws.corpora_dir.iterdir()):
            try:
                m = _read_manifest(folder) if folder.is_dir() else None
            except ValueError:
                m = None
            if m is not None:
                out.append(m)
    return out


def remove_corpus(ws: Workspace, name: str) -> None:
    folder = corpus_dir(ws, name)
    if not folder.is_dir():
        raise NotFoundError(f"no corpus named '{name}'")
    with StoreLock(folder, f"corpus '{name}'"):
        _delete_store(folder)
        (folder / MANIFEST_NAME).unlink(missing_ok=True)


def _looks_like_half_store(folder: Path) -> bool:
    """A folder SafeVet made (a corpus name holding a lock file or a store) that has no
    manifest; anything else under corpora/ is the operator's and is left alone."""
    return (folder.is_dir() and not folder.is_symlink() and bool(_NAME_RE.match(folder.name))
            and not os.path.lexists(folder / MANIFEST_NAME)
            and (os.path.lexists(folder / LOCK_NAME) or os.path.lexists(folder / STORE_NAME)))


def _remove_if_abandoned(folder: Path) -> bool:
    """Remove a half-store unless a live process owns it: if its lock can be taken, the
    ingest that made it has died (the kernel drops a dead process's flock)."""
    lock = StoreLock(folder, f"corpus '{folder.name}'")
    if lock.held_by_this_process:
        return False
    try:
        lock.acquire()
    except StoreLockedError:
        return False
    try:
        if os.path.lexists(folder / MANIFEST_NAME):  # finished while we looked
            return False
        _forget_chroma(folder / STORE_NAME)
        shutil.rmtree(folder)
        return True
    finally:
        lock.release()


def remove_half_stores(ws: Workspace) -> list[Path]:
    """Remove the corpus folders left by a killed ingest of a new corpus; return them.

    A half-store is not listed as a corpus, but it holds a store on disk and a
    name the next ingest would start over anyway.
    """
    if not ws.corpora_dir.is_dir():
        return []
    return [folder for folder in sorted(ws.corpora_dir.iterdir())
            if _looks_like_half_store(folder) and _remove_if_abandoned(folder)]
