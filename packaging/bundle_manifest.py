#!/usr/bin/env python3
"""Checksum manifest and pinned requirement files of a SafeVet offline bundle.

Standard library only: this file is copied into every bundle and runs on the
air-gapped workstation before anything from the bundle is installed, with
nothing but the system's Python 3.

    python3 bundle_manifest.py write  BUNDLE_DIR     # build side: write SHA256SUMS
    python3 bundle_manifest.py verify BUNDLE_DIR     # install side: refuse on any mismatch

SHA256SUMS uses the `sha256sum` text format (`<hex>  <relative path>`), so
`sha256sum -c SHA256SUMS` checks it too. `verify` is stricter than that: a file
that is in the bundle but not in the manifest is also a failure, because pip's
`--find-links` would happily pick up a wheel slipped into `wheels/`.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

MANIFEST = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class ManifestError(Exception):
    """The bundle does not match its manifest (or the manifest is malformed)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundle_files(root: Path) -> list[str]:
    """Every regular file under root (relative POSIX paths), the manifest excluded."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def write_manifest(root: Path) -> Path:
    """Hash every file of the bundle into root/SHA256SUMS; return its path."""
    root = Path(root)
    lines = []
    for rel in bundle_files(root):
        path = root / rel
        if path.is_symlink():
            raise ManifestError(f"{rel}: symlinks are not allowed in a bundle")
        if "\n" in rel or "\\" in rel:
            raise ManifestError(f"{rel!r}: unsupported file name")
        lines.append(f"{sha256_file(path)}  {rel}\n")
    out = root / MANIFEST
    out.write_text("".join(lines), encoding="utf-8")
    return out


def read_manifest(root: Path) -> dict[str, str]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path}: no checksum manifest; this is not a complete bundle")
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise ManifestError(f"{path}:{number}: malformed line {line!r}")
        digest, rel = m.groups()
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ManifestError(f"{path}:{number}: path {rel!r} leaves the bundle")
        if rel in entries:
            raise ManifestError(f"{path}:{number}: {rel} listed twice")
        entries[rel] = digest
    if not entries:
        raise ManifestError(f"{path}: empty manifest")
    return entries


def verify_manifest(root: Path) -> list[str]:
    """All problems found (missing, changed, unlisted files); empty when the bundle is intact."""
    root = Path(root)
    entries = read_manifest(root)
    problems = []
    present = set(bundle_files(root))
    for rel, digest in entries.items():
        path = root / rel
        if rel not in present or not path.is_file():
            problems.append(f"missing: {rel}")
        elif path.is_symlink():
            problems.append(f"symlink (not allowed): {rel}")
        elif sha256_file(path) != digest:
            problems.append(f"checksum mismatch: {rel}")
    for rel in sorted(present - set(entries)):
        problems.append(f"not in manifest: {rel}")
    return problems


def fingerprint(root: Path) -> str:
    """sha256 of SHA256SUMS itself: one value to compare with the build record out of band."""
    return sha256_file(Path(root) / MANIFEST)


# --- pinned requirement files -------------------------------------------------------------

_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(canonical project name, version) from a wheel file name (PEP 427)."""
    m = _WHEEL.match(filename)
    if not m:
        raise ManifestError(f"{filename}: not a wheel file name")
    return canonical_name(m.group("name")), m.group("version")


def requirement_lines(wheels: list[Path]) -> list[str]:
    """`name==version --hash=sha256:...` for each wheel, sorted by name.

    These files are installed with `pip install --no-deps --require-hashes`: the
    bundle's requirement list is the complete, already-resolved set, so pip never
    resolves anything on the workstation (and never sees chromadb's declared
    dependency on onnxruntime in the GPU variant).
    """
    rows = {}
    for wheel in wheels:
        name, version = wheel_name_version(wheel.name)
        if name in rows:
            raise ManifestError(f"two wheels for {name}: {rows[name][2]} and {wheel.name}")
        rows[name] = (version, sha256_file(wheel), wheel.name)
    return [f"{name}=={version} --hash=sha256:{digest}"
            for name, (version, digest, _) in sorted(rows.items())]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "verify", "fingerprint"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: bundle_manifest.py write|verify|fingerprint BUNDLE_DIR", file=sys.stderr)
        return 64
    command, root = argv[0], Path(argv[1])
    try:
        if command == "write":
            write_manifest(root)
            print(f"{MANIFEST}: {len(read_manifest(root))} files, "
                  f"fingerprint sha256:{fingerprint(root)}")
            return 0
        if command == "fingerprint":
            print(fingerprint(root))
            return 0
        problems = verify_manifest(root)
    except ManifestError as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(f"REFUSED: the bundle at {root} does not match its {MANIFEST}:", file=sys.stderr)
        for p in problems[:50]:
            print(f"  {p}", file=sys.stderr)
        if len(problems) > 50:
            print(f"  ... and {len(problems) - 50} more", file=sys.stderr)
        return 2
    print(f"checksums ok: {len(read_manifest(root))} files match {MANIFEST} "
          f"(fingerprint sha256:{fingerprint(root)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
