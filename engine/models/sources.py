"""What a model source is and whether it is complete, checked before any heavy work.

An air-gapped import that fails twenty seconds into an export because a shard
is missing wastes an operator's time; worse, transformers would try the hub
for the missing piece. So the source is checked file by file up front.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import InputError, SafeVetError
from engine.hashing import sha256_file, sha256_text

# GGUF architectures transformers can dequantise *and* optimum can export as a
# decoder with a KV cache (encoder-decoders, MoE and state-space models excluded).
SUPPORTED_GGUF_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2",
                                "gemma3", "stablelm", "starcoder2", "gpt2", "falcon", "bloom")


class IncompleteSourceError(SafeVetError):
    """A model folder lacks files an offline export needs."""


class UnsupportedArchitectureError(SafeVetError):
    """The source declares a model architecture SafeVet cannot export."""


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    kind: Literal["hf_folder", "gguf"]
    architecture: str | None = None   # GGUF general.architecture


def _missing_hf_files(folder: Path) -> list[str]:
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError) as exc:
            raise InputError(index, f"unreadable safetensors index: {exc}") from exc
        missing += [s for s in shards if not (folder / s).is_file()]
    elif not (folder / "model.safetensors").is_file():
        missing.append("model.safetensors (or model.safetensors.index.json with its shards)")
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer.model").is_file():
        missing.append("tokenizer.json (or tokenizer.model)")
    if not (folder / "tokenizer_config.json").is_file():
        missing.append("tokenizer_config.json")
    return missing


def gguf_architecture(path: Path) -> str:
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise InputError(path, "not a GGUF file (bad magic bytes)")
    import gguf
    try:
        reader = gguf.GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except KeyError as exc:
        raise InputError(path, "GGUF file has no general.architecture") from exc
    except (ValueError, OSError) as exc:
        raise InputError(path, f"unreadable GGUF file: {exc}") from exc


def inspect_source(source: str | Path) -> SourceInfo:
    """Classify and check a source; raise a clear error for anything not importable."""
    path = Path(source).expanduser()
    if not path.exists():
        raise SafeVetError(f"model source {path} does not exist (SafeVet imports local files "
                           f"only; nothing is fetched from a hub)")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise InputError(path, "expected a .gguf file or a Hugging Face model folder")
        arch = gguf_architecture(path)
        if arch not in SUPPORTED_GGUF_ARCHITECTURES:
            raise UnsupportedArchitectureError(
                f"{path}: GGUF architecture {arch!r} is not supported; SafeVet can import "
                f"{', '.join(SUPPORTED_GGUF_ARCHITECTURES)}")
        return SourceInfo(path.resolve(), "gguf", arch)
    missing = _missing_hf_files(path)
    if missing:
        raise IncompleteSourceError(f"model folder {path} is incomplete; missing: "
                                    f"{', '.join(missing)}")
    return SourceInfo(path.resolve(), "hf_folder")


def source_sha256(info: SourceInfo) -> str:
    """sha256 of a file, or of the sorted (path, sha256) list of a folder's files."""
    if info.kind == "gguf":
        return sha256_file(info.path)
    lines = [f"{p.relative_to(info.path).as_posix()} {sha256_file(p)}"
             for p in sorted(info.path.rglob("*"))
             if p.is_file() and not any(part.startswith(".") for part in
                                        p.relative_to(info.path).parts)]
    return sha256_text("\n".join(lines))


def safetensors_parameter_count(folder: Path) -> int:
    """Parameters stored in a folder's safetensors files, read from headers only."""
    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with open(f, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            n = 1
            for d in meta["shape"]:
                n *= d
            total += n
    return total
