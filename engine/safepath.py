"""Containment for every path that comes from input: manifests, suites, corpora, archives.

Model folders, suites and corpora reach an air-gapped workstation on removable
media from elsewhere, so a file name written inside one of them is untrusted
data, not a path. A name is accepted only if it is relative, has no `..`, no
NUL, no backslash or drive letter, and resolves inside its root without
passing through a symbolic link. SafeVet never follows a symlink found in an
input folder: a link that points inside the folder today may point at
`/etc/passwd` on the next copy, and refusing is the only rule that is easy to
state to hospital IT ("copy the files, not links").

Only the standard library is used, so every module (and the installer) can
afford to call it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Iterator

from engine.errors import InputError


class UnsafePathError(InputError):
    """A name from input that would escape its folder, or a link/device where a file belongs."""


def check_relative_name(name: object, *, source: str | Path, field: str | None = None,
                        line: int | None = None) -> PurePosixPath:
    """`name` as a safe relative path, or UnsafePathError naming where it was written."""
    if not isinstance(name, str) or not name:
        raise UnsafePathError(source, f"expected a file name, got {name!r}", line=line,
                              field=field)
    problem = None
    if "\x00" in name:
        problem = "contains a NUL byte"
    elif "\\" in name:
        problem = "contains a backslash (use '/' between folders)"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problem = "is an absolute path"
    else:
        parts = PurePosixPath(name).parts
        if any(p == ".." for p in parts):
            problem = "climbs out of its folder with '..'"
        elif any(p in (".", "") for p in name.split("/")):
            problem = "has an empty or '.' path component"
    if problem:
        raise UnsafePathError(source, f"file name {name!r} {problem}; only names inside the "
                                      f"folder are accepted", line=line, field=field)
    return PurePosixPath(name)


def contained(root: Path, name: object, *, source: str | Path, field: str | None = None,
              line: int | None = None) -> Path:
    """`root/name`, refusing anything that leaves root or passes through a symlink.

    The target itself need not exist (a destination being built); every part of
    it that does exist must be a real folder or file, not a link.
    """
    rel = check_relative_name(name, source=source, field=field, line=line)
    root = Path(root)
    current = root
    for part in rel.parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(source, f"{current} is a symbolic link; SafeVet does not "
                                          f"follow links in input folders (copy the file "
                                          f"itself)", line=line, field=field)
    real_root = root.resolve()
    resolved = current.resolve()
    if resolved != real_root and real_root not in resolved.parents:
        raise UnsafePathError(source, f"file name {str(name)!r} resolves outside {root}",
                              line=line, field=field)
    return current


def regular_file(path: Path, *, what: str = "file") -> Path:
    """`path` if it is a plain file (not a link, folder, device or pipe); else a clear error."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except OSError as exc:
        raise InputError(path, f"{what} cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, f"{what} is a symbolic link; SafeVet does not follow links "
                                    f"in input (copy the file itself)")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, f"{what} is a folder, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"{what} is not a regular file (device, pipe or socket)")
    return path


def printable_name(path: Path) -> str:
    """A file name as text, refusing names that are not valid UTF-8 (they cannot be
    stored as identifiers, printed in a report or typed again by the user)."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        raise InputError(Path(os.fsencode(path.parent).decode("utf-8", "backslashreplace"))
                         / shown, "file name is not valid UTF-8; rename the file") from None
    return name


def walk_files(folder: Path) -> Iterator[Path]:
    """Every plain file under folder, sorted, never entering or returning a symlink.

    A link anywhere under the folder is an error rather than silently skipped, so
    the operator learns that something they copied was not ingested.
    """
    folder = Path(folder)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                raise UnsafePathError(base / d, "is a symbolic link to a folder; SafeVet does "
                                                "not follow links in input (copy the files)")
        dirnames.sort()
        for f in sorted(filenames):
            p = base / f
            if p.is_symlink():
                raise UnsafePathError(p, "is a symbolic link; SafeVet does not follow links "
                                         "in input (copy the file itself)")
            if p.is_file():
                yield p
