"""Reading corpus source files: which files, their text, title and identity.

A document's id is its file name, so re-ingesting the same file from another
folder (a USB stick, a newer copy) replaces the old chunks instead of adding a
duplicate; its sha256 decides whether anything changed at all.

Corpus folders arrive on removable media and are untrusted, so every file is
read and checked here, before a corpus store is opened: a link, an unprintable
name, an oversize file or bytes that are not UTF-8 stop the ingest with one
line naming the file, and nothing in the store has changed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError, NotFoundError
from engine.hashing import sha256_file
from engine.inputfiles import CONTROL_CHARS, read_text, strip_control
from engine.safepath import UnsafePathError, printable_name, regular_file, walk_files

SUFFIXES = (".txt", ".md", ".markdown")
# A clinical guideline is tens of kilobytes; 8 MiB is far beyond any real one and
# still embeds in well under a minute, so a larger file is a mistake, not a corpus.
DEFAULT_MAX_FILE_BYTES = 8 * 2**20
WHAT = "corpus file"


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    title: str
    text: str
    source_path: str
    sha256: str
    removed_chars: int = 0  # control characters and escape sequences taken out of `text`

    @property
    def note(self) -> str | None:
        """What the operator should be told about this file's text, if anything."""
        if not self.removed_chars:
            return None
        return f"{self.doc_id}: removed {self.removed_chars} control characters"


def _wanted(path: Path, folder: Path) -> bool:
    """A folder's README describes the corpus rather than being part of it, and hidden
    files (.DS_Store, editor swap files) were never written as corpus text."""
    rel = path.relative_to(folder)
    return (path.suffix.lower() in SUFFIXES
            and not path.stem.upper().startswith("README")
            and not any(part.startswith(".") for part in rel.parts))


def _named_file(path: Path) -> Path:
    """A file named directly as PATH: a plain file of a supported type, never a link."""
    regular_file(path, what=WHAT)
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(path, f"unsupported file type '{path.suffix}' "
                               f"(expected {', '.join(SUFFIXES)})")
    return path


def collect_files(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively) to their text/markdown files, sorted.

    A symbolic link anywhere (a PATH itself, or a file or folder inside one) is
    refused rather than skipped: a link on removable media can point anywhere
    on this machine, and skipping it silently would leave the operator thinking
    it was ingested.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if not os.path.lexists(p):
            raise NotFoundError(f"{p}: no such file or folder")
        if p.is_symlink():
            raise UnsafePathError(p, "is a symbolic link; SafeVet does not follow links in "
                                     "input (copy the files themselves)")
        if p.is_dir():
            files.extend(sorted(f for f in walk_files(p) if _wanted(f, p)))  # by path, as ever
        else:
            files.append(_named_file(p))
    return files


def check_file_name(path: Path) -> str:
    """The file's name, refused if it or a folder on its way is not UTF-8, or it holds
    control characters (a line break included): the name becomes the document id, a
    Chroma key and one line on a report or a terminal."""
    name = printable_name(path)
    for folder in path.resolve().parents:
        printable_name(folder)
    if CONTROL_CHARS.search(name) or any(c in name for c in "\t\n\r"):
        shown = name.encode("unicode_escape").decode("ascii")
        raise InputError(path.parent / shown, "file name holds control characters; "
                                              "rename the file")
    return name


def title_of(text: str, path: Path) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def read_document(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> SourceDocument:
    """One file as a document, its text cleaned of control characters.

    The sha256 is of the file as it is on disk, not of the cleaned text, so it
    still identifies the file a reviewer can open and re-ingesting it is a no-op.
    """
    doc_id = check_file_name(path)
    text, removed = strip_control(read_text(path, what=WHAT, max_bytes=max_bytes))
    return SourceDocument(doc_id=doc_id, title=title_of(text, path), text=text,
                          source_path=str(path.resolve()), sha256=sha256_file(path),
                          removed_chars=removed)


def read_documents(paths: list[Path],
                   max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[SourceDocument]:
    """Read and check every file, refusing two different files with one name (one doc id)."""
    docs: dict[str, SourceDocument] = {}
    for f in collect_files(paths):
        doc = read_document(f, max_bytes=max_file_bytes)
        prior = docs.get(doc.doc_id)
        if prior is not None and prior.source_path != doc.source_path:
            raise InputError(f, f"another file with the same name is also being ingested "
                                f"({prior.source_path}); document ids are file names")
        docs[doc.doc_id] = doc
    return list(docs.values())
