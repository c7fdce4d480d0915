"""Reading corpus source files: which files, their text, title and identity.

A document's id is its file name, so re-ingesting the same file from another
folder (a USB stick, a newer copy) replaces the old chunks instead of adding a
duplicate; its sha256 decides whether anything changed at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError, NotFoundError
from engine.hashing import sha256_file

SUFFIXES = (".txt", ".md", ".markdown")


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    title: str
    text: str
    source_path: str
    sha256: str


def collect_files(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively) to their text/markdown files, sorted.

    A folder's README describes the corpus rather than being part of it, so it
    is skipped when walking a folder (name it explicitly to ingest it).
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and f.suffix.lower() in SUFFIXES
                                and not f.stem.upper().startswith("README")
                                and not any(part.startswith(".") for part in f.parts)))
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise InputError(p, f"unsupported file type '{p.suffix}' "
                                    f"(expected {', '.join(SUFFIXES)})")
            files.append(p)
        else:
            raise NotFoundError(f"{p}: no such file or folder")
    return files


def title_of(text: str, path: Path) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def read_document(path: Path) -> SourceDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start})") from exc
    return SourceDocument(doc_id=path.name, title=title_of(text, path), text=text,
                          source_path=str(path.resolve()), sha256=sha256_file(path))


def read_documents(paths: list[Path]) -> list[SourceDocument]:
    """Read every file, refusing two different files with one name (one doc id)."""
    docs: dict[str, SourceDocument] = {}
    for f in collect_files(paths):
        doc = read_document(f)
        prior = docs.get(doc.doc_id)
        if prior is not None and prior.source_path != doc.source_path:
            raise InputError(f, f"another file with the same name is also being ingested "
                                f"({prior.source_path}); document ids are file names")
        docs[doc.doc_id] = doc
    return list(docs.values())
