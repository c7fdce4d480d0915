"""The workspace's model store: one folder per candidate, each with its manifest.

Loading checks every file against the manifest, because a report that names a
model's hashes must be about the bytes that were actually run. Re-hashing
half a gigabyte on every load costs seconds, so a load may trust a file whose
(size, mtime_ns, ctime_ns) match the last full check (ctime cannot be set back
by a user, so even an edit that restores the mtime is caught); `verify`
always re-hashes. Each check is also remembered for this process
(engine.models.file_stamps), so the session layer's check of external data
files just before onnxruntime reads them costs a stat, not a second read.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from engine.errors import IntegrityError, NotFoundError
from engine.events import ProgressCallback, emit
from engine.hashing import sha256_file
from engine.models import file_stamps
from engine.models.folder_contents import listed_file
from engine.models.manifest import MANIFEST_FILE, ModelManifest, check_name
from engine.safepath import UnsafePathError
from engine.workspace import Workspace

if TYPE_CHECKING:
    from engine.models.onnx_model import OnnxCandidateModel


def model_dir(ws: Workspace, name: str) -> Path:
    return ws.models_dir / check_name(name)


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and (path / MANIFEST_FILE).is_file()


def list_models(ws: Workspace) -> list[ModelManifest]:
    if not ws.models_dir.is_dir():
        return []
    return [ModelManifest.read(p) for p in sorted(ws.models_dir.iterdir()) if _is_model_folder(p)]


def has_model(ws: Workspace, name: str) -> bool:
    return _is_model_folder(model_dir(ws, name))


def get_manifest(ws: Workspace, name: str) -> ModelManifest:
    folder = model_dir(ws, name)
    if not _is_model_folder(folder):
        known = ", ".join(m.name for m in list_models(ws)) or "none"
        raise NotFoundError(f"no model named {name!r} in {ws.models_dir} (models: {known})")
    return ModelManifest.read(folder)


def _stamp_cache_path(ws: Workspace, name: str) -> Path:
    return ws.cache_dir / "model-verification" / f"{name}.json"


def check_folder(folder: Path, manifest: ModelManifest, label: str,
                 cache: dict[str, list] | None = None,
                 progress: Optional[ProgressCallback] = None) -> dict[str, list]:
    """Every manifest file present with its sha256, and no ONNX weight file it does not list.

    `cache` maps a file to its [size, mtime_ns, ctime_ns, sha256] from an earlier full
    check; a file whose stamp still matches is not re-hashed. Returns the fresh stamps.
    """
    cache = cache or {}
    fresh: dict[str, list] = {}
    total = len(manifest.files)
    _refuse_foreign_entries(folder, manifest, label)
    for done, (rel, expected) in enumerate(sorted(manifest.files.items()), start=1):
        path = listed_file(folder, manifest, rel)
        if not path.is_file():
            raise IntegrityError(f"{label}: file {rel} is missing from {folder}; "
                                 f"re-import the model")
        stamp = file_stamps.stamp(path)
        hit = cache.get(rel)
        if hit and hit[:3] == stamp and hit[3] == expected:
            fresh[rel] = hit
            file_stamps.remember(path, stamp, expected)
            continue
        emit(progress, "verify", f"hashing {rel}", done=done - 1, total=total)
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(f"{label}: file {rel} has changed or is truncated "
                                 f"(sha256 {actual[:12]}..., manifest says "
                                 f"{expected[:12]}...); re-import the model")
        fresh[rel] = [*stamp, actual]
        # The session layer checks external data files again just before onnxruntime
        # opens them; with this it needs only a stat, not a second multi-GB read.
        file_stamps.remember(path, stamp, actual)
    return fresh


def _refuse_foreign_entries(folder: Path, manifest: ModelManifest, label: str) -> None:
    """One pass over the folder, before any hashing: no link at all, and no ONNX weight
    file the manifest does not list (onnxruntime would load it silently)."""
    for entry in folder.iterdir():
        if entry.is_symlink():
            raise UnsafePathError(entry, f"{label}: symbolic link in a model folder; SafeVet "
                                         f"does not follow links (copy the file itself)")
        if entry.is_file() and entry.name not in manifest.files and entry.name != MANIFEST_FILE \
                and (entry.suffix in (".onnx", ".onnx_data", ".data") or entry.name.endswith(
                    ".onnx.data")):
            raise IntegrityError(f"{label}: unexpected file {entry.name} in {folder} is "
                                 f"not in the manifest")


def verify_files(ws: Workspace, name: str, use_cache: bool = False,
                 progress: Optional[ProgressCallback] = None) -> ModelManifest:
    """Check every manifest file exists with its recorded sha256; raise naming the first bad one.

    Also refuses an extra ONNX weight file the manifest does not list, since
    onnxruntime would load it silently.
    """
    manifest = get_manifest(ws, name)
    cache_path = _stamp_cache_path(ws, name)
    cache: dict[str, list] = {}
    if use_cache and cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text())
        except ValueError:
            cache = {}
    try:
        fresh = check_folder(model_dir(ws, name), manifest, f"model {name}", cache, progress)
    except IntegrityError:
        cache_path.unlink(missing_ok=True)
        raise
    total = len(manifest.files)
    emit(progress, "verify", f"{name}: {total} files ok", done=total, total=total)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(fresh))
    os.replace(tmp, cache_path)
    return manifest


def verify_model(ws: Workspace, name: str, progress: Optional[ProgressCallback] = None
                 ) -> ModelManifest:
    """Full re-hash of every file (what `safevet models verify` runs)."""
    return verify_files(ws, name, use_cache=False, progress=progress)


def load_model(ws: Workspace, name: str, provider: str = "auto", batch_size: int = 8,
               generation_batch_size: int = 16) -> "OnnxCandidateModel":
    """Verify the model's files against its manifest, then open it for scoring and generation.

    `batch_size` bounds the prompts scored in one forward pass, `generation_batch_size` the
    sequences decoded together (a run passes its settings'; both are in the session record).

    The runtime switches ($SAFEVET_SCORING_HEAD, $SAFEVET_ATTENTION) are read here, at
    load, so what a model runs with is fixed when it is opened and recorded with it.
    """
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.runtime_options import RuntimeOptions
    manifest = verify_files(ws, name, use_cache=True)
    return OnnxCandidateModel(model_dir(ws, name), manifest, provider=provider,
                              batch_size=batch_size,
                              generation_batch_size=generation_batch_size,
                              options=RuntimeOptions.from_environment())


def remove_model(ws: Workspace, name: str) -> None:
    folder = model_dir(ws, name)
    if not folder.exists():
        raise NotFoundError(f"no model named {name!r} in {ws.models_dir}")
    # Rename first so a crash mid-delete never leaves a folder that looks like a model.
    trash = folder.with_name(f".removing-{name}-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
    _stamp_cache_path(ws, name).unlink(missing_ok=True)
    from engine.models.lineage import forget
    forget(ws, name)  # a later model of the same name must not inherit this one's lineage


def folder_size(ws: Workspace, name: str) -> int:
    folder = model_dir(ws, name)
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

