"""Import a candidate model: HF folder or GGUF -> optimum ONNX export -> workspace store.

This is the only place that needs torch, transformers and optimum (the
`export` extra). The export runs once per model; everything after it uses the
torch-free runtime. The new model folder is built under a hidden temporary
name and renamed into place, so an interrupted import leaves nothing that
looks like a model.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Iterator, Optional

from engine.errors import SafeVetError
from engine.events import ProgressCallback, emit
from engine.hashing import sha256_file
from engine.leftovers import staging_folder
from engine.models import sources
from engine.models.manifest import MANIFEST_FILE, ModelManifest, SpecialTokens, check_name
from engine.models.registry import get_manifest, has_model, model_dir, verify_files
from engine.offline import enforce_offline_environment
from engine.workspace import Workspace

EXPORT_TASK = "text-generation-with-past"
EXPORT_TOOLS = ("optimum", "optimum-onnx", "transformers", "torch", "onnx", "onnxruntime",
                "tokenizers", "gguf")
# Tokens that end an assistant turn in common chat templates.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>",
                      "<|endoftext|>")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "tokenizer.model", "generation_config.json")


class ExportError(SafeVetError):
    """The ONNX export of a model failed."""


def tool_versions() -> dict[str, str]:
    out = {}
    for name in EXPORT_TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _quiet_libraries() -> None:
    import logging
    import warnings
    for name in ("transformers", "optimum", "torch.onnx", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from transformers.utils import logging as hf_logging
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF file into an HF folder, fixing what the GGUF tokenizer gets wrong.

    transformers' GGUF tokenizer for ChatML models ends turns at
    `<|im_start|>`, has no pad token and prepends a BOS on every encode; the
    model would then never stop and every prompt would gain a stray token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = dict(gguf_file=gguf_path.name, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    # transformers draws its own dequantisation bar on stderr, which garbles the CLI status.
    with contextlib.redirect_stderr(io.StringIO()):
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32,
                                                     **kw)
    vocab = tok.get_vocab()
    template = tok.chat_template or ""
    end = next((t for t in END_OF_TURN_TOKENS[:4] if t in vocab and t in template), None)
    if end is not None:
        tok.eos_token = end
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if hasattr(tok, "add_bos_token"):
        tok.add_bos_token = False
    if hasattr(tok, "add_eos_token"):
        tok.add_eos_token = False
    eos_id = tok.convert_tokens_to_ids(tok.eos_token)
    pad_id = tok.convert_tokens_to_ids(tok.pad_token)
    model.config.eos_token_id = eos_id
    model.config.pad_token_id = pad_id
    if model.generation_config is not None:
        model.generation_config.eos_token_id = eos_id
        model.generation_config.pad_token_id = pad_id
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))


def needs_eager_attention(hf_dir: Path) -> bool:
    """Whether the model soft-caps its attention scores (Gemma 2's attn_logit_softcapping).

    transformers (4.57) applies that cap only in eager attention; its default SDPA path,
    which optimum exports, silently drops it, so the ONNX model would not compute what
    the model was trained to. Such a model is exported with eager attention."""
    config = _read_json(hf_dir / "config.json")
    return bool((config.get("text_config") or config).get("attn_logit_softcapping"))


def _export(hf_dir: Path, out_dir: Path) -> None:
    """optimum's export; through a model loaded with eager attention when it needs that
    (optimum's main_export has no way to ask for it)."""
    from optimum.exporters.onnx import main_export, onnx_export_from_model
    from optimum.exporters.tasks import TasksManager
    if not needs_eager_attention(hf_dir):
        main_export(str(hf_dir), output=str(out_dir), task=EXPORT_TASK, device="cpu",
                    local_files_only=True, do_validation=False, library_name="transformers")
        return
    model = TasksManager.get_model_from_task(EXPORT_TASK, str(hf_dir), local_files_only=True,
                                             framework="pt", device="cpu",
                                             library_name="transformers",
                                             attn_implementation="eager")
    model.config.use_cache = True
    onnx_export_from_model(model, output=str(out_dir), task=EXPORT_TASK, device="cpu",
                           do_validation=False)


def export_onnx(hf_dir: Path, out_dir: Path) -> None:
    """optimum export, task text-generation-with-past, from a local folder only."""
    import warnings
    try:
        with warnings.catch_warnings():  # tracer chatter is not the operator's concern
            warnings.simplefilter("ignore")
            _export(hf_dir, out_dir)
    except (ValueError, KeyError, RuntimeError, OSError, TypeError) as exc:
        raise ExportError(f"ONNX export of {hf_dir} failed: {exc}") from exc
    if not (out_dir / "model.onnx").is_file():
        raise ExportError(f"ONNX export of {hf_dir} produced no model.onnx")
    for name in TOKENIZER_FILES:  # the runtime reads these beside the ONNX file
        if (hf_dir / name).is_file() and not (out_dir / name).is_file():
            shutil.copy2(hf_dir / name, out_dir / name)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _token_str(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def describe_export(folder: Path) -> dict:
    """Manifest fields read from an exported folder: config, tokenizer, template."""
    from tokenizers import Tokenizer

    config = _read_json(folder / "config.json")
    tcfg = _read_json(folder / "tokenizer_config.json")
    gen = _read_json(folder / "generation_config.json")
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    template = tcfg.get("chat_template")
    if isinstance(template, list):  # named templates: take the default one
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    if not template and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text()

    def tid(tok_str: str | None) -> int | None:
        return tok.token_to_id(tok_str) if tok_str else None

    bos, eos, pad = (_token_str(tcfg.get(k)) for k in ("bos_token", "eos_token", "pad_token"))
    stop: list[int] = []
    gen_eos = gen.get("eos_token_id", config.get("eos_token_id"))
    for value in ([eos and tid(eos)] + (gen_eos if isinstance(gen_eos, list) else [gen_eos])):
        if isinstance(value, int) and value not in stop:
            stop.append(value)
    for t in END_OF_TURN_TOKENS:
        i = tid(t)
        if i is not None and template and t in template and i not in stop:
            stop.append(i)
    heads = config.get("num_attention_heads") or config.get("n_head")
    hidden = config.get("hidden_size") or config.get("n_embd")
    return dict(
        architecture=(config.get("architectures") or [config.get("model_type", "unknown")])[0],
        model_type=config.get("model_type", "unknown"),
        context_length=int(config.get("max_position_embeddings") or config.get("n_positions")
                           or 2048),
        num_layers=int(config.get("num_hidden_layers") or config.get("n_layer")),
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads),
        vocab_size=int(config.get("vocab_size") or tok.get_vocab_size()),
        chat_template=template,
        special_tokens=SpecialTokens(bos_token=bos, bos_token_id=tid(bos), eos_token=eos,
                                     eos_token_id=tid(eos), pad_token=pad or eos,
                                     pad_token_id=tid(pad or eos), stop_token_ids=stop),
    )


def hash_folder(folder: Path, progress: Optional[ProgressCallback] = None) -> dict[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_FILE)
    out = {}
    for i, p in enumerate(files):
        emit(progress, "import", f"hashing {p.name}", done=i, total=len(files))
        out[p.name] = sha256_file(p)
    return out


def _refuse_existing(ws: Workspace, name: str) -> None:
    """Checked before any slow work (export, quantisation, copying), not only at the rename."""
    if has_model(ws, name) or model_dir(ws, name).exists():
        raise SafeVetError(f"a model named {name!r} already exists; remove it first "
                           f"(safevet models remove {name})")


@contextlib.contextmanager
def _staged(ws: Workspace, name: str) -> Iterator[Path]:
    """A hidden folder to build model `name` in; renamed into place only if the block
    succeeds, removed otherwise, so nothing half-made ever looks like a model. A killed
    import's folder is found by engine.leftovers and removed on the next command."""
    with staging_folder(ws.models_dir, f".importing-{name}-") as staging:
        yield staging
        final = model_dir(ws, name)
        if final.exists():
            raise SafeVetError(f"a model folder {final} appeared while importing; "
                               f"remove it first")
        os.replace(staging, final)


def _quantize_in_place(folder: Path, precision: str,
                       progress: Optional[ProgressCallback]) -> dict:
    """Replace the fp32 export in `folder` by its `precision` copy under the same name.

    The export (model.onnx and any model.onnx_data) first moves into a hidden
    subfolder, so the quantised file is written straight to its final name, which
    is the name a >2 GB model's weights file is recorded under inside the graph.
    """
    from engine.models.quantize import quantize
    emit(progress, "import", f"quantising to {precision} (MatMulNBits, weight-only)")
    export = folder / ".fp32-export"
    export.mkdir()
    for part in folder.glob("model.onnx*"):
        os.replace(part, export / part.name)
    settings = quantize(export / "model.onnx", folder / "model.onnx", precision)
    shutil.rmtree(export)
    return settings


def import_model(ws: Workspace, source: str | Path, name: str, precision: str = "fp32",
                 progress: Optional[ProgressCallback] = None,
                 exporter: str = "auto") -> ModelManifest:
    """Export `source` (HF folder or GGUF file) to ONNX and register it as `name`.

    `exporter`: "optimum" (a torch trace), "direct" (engine.models.direct_export: graph
    written from config.json, weights streamed) or "auto" (exporters.choose_exporter)."""
    from engine.models import exporters
    from engine.models.quantize import check_import_precision
    check_name(name)
    check_import_precision(precision)
    exporters.check_exporter(exporter)
    _refuse_existing(ws, name)
    emit(progress, "import", f"checking {source}")
    info = sources.inspect_source(source)
    enforce_offline_environment()
    _quiet_libraries()
    emit(progress, "import", "hashing the source")
    src_sha = sources.source_sha256(info)
    convert_dir = ws.cache_dir / f"convert-{uuid.uuid4().hex[:8]}"
    try:
        with _staged(ws, name) as staging:
            hf_dir = info.path
            if info.kind == "gguf":
                emit(progress, "import", f"converting GGUF ({info.architecture}) to an HF folder")
                convert_dir.mkdir(parents=True)
                convert_gguf(info.path, convert_dir)
                hf_dir = convert_dir
            params = sources.safetensors_parameter_count(hf_dir)
            chosen = exporters.choose_exporter(exporter, hf_dir, params)
            emit(progress, "import", f"exporting to ONNX ({EXPORT_TASK}, {chosen} exporter); "
                                     f"this runs once")
            if chosen == "direct":
                from engine.models import direct_export
                direct_export.export_direct(hf_dir, staging)
                versions = direct_export.tool_versions()
            else:
                export_onnx(hf_dir, staging)
                versions = tool_versions()
            quant = None if precision == "fp32" else _quantize_in_place(staging, precision,
                                                                         progress)
            manifest = ModelManifest(
                name=name, source=str(info.path), source_kind=info.kind, source_sha256=src_sha,
                precision=precision, quantization=quant, parameter_count=params,
                files=hash_folder(staging, progress), export_tool_versions=versions,
                **describe_export(staging))
            manifest.write(staging)
    finally:
        shutil.rmtree(convert_dir, ignore_errors=True)
    emit(progress, "import", f"imported {name} ({precision})", done=1, total=1)
    return manifest


def derive_quantized(ws: Workspace, base: str, name: str, precision: str,
                     progress: Optional[ProgressCallback] = None) -> ModelManifest:
    """Register a `precision` copy (weight-only int8/int4, or the fp16 cast) of an
    already-imported fp32 model.

    No second export: the tokenizer files are copied and only the graph is
    quantised, with the same recipe `import --precision` uses. The base is hash-checked
    first, since the copy gets fresh hashes of its own: a changed base file would
    otherwise become a derived model that verifies.
    """
    from engine.models.quantize import check_derived_precision, derive_graph_file
    check_name(name)
    check_derived_precision(precision)
    base_manifest = get_manifest(ws, base)
    if base_manifest.precision != "fp32":
        raise SafeVetError(f"model {base} is {base_manifest.precision}; {precision} is derived "
                           f"from fp32")
    _refuse_existing(ws, name)
    verify_files(ws, base, use_cache=True, progress=progress)
    src = model_dir(ws, base)
    with _staged(ws, name) as staging:
        for rel in base_manifest.files:
            if not rel.startswith("model.onnx"):
                shutil.copy2(src / rel, staging / rel)
        how = "casting" if precision == "fp16" else "quantising"
        emit(progress, "import", f"{how} {base} to {precision}")
        quant = derive_graph_file(src / base_manifest.onnx_file, staging / "model.onnx",
                                  precision)
        data = base_manifest.model_dump()
        data.update(name=name, source_kind="derived", derived_from=base, precision=precision,
                    quantization=quant, onnx_file="model.onnx",
                    files=hash_folder(staging, progress), export_tool_versions=tool_versions())
        data.pop("created_at")
        manifest = ModelManifest(**data)
        manifest.write(staging)
    emit(progress, "import", f"registered {name} ({precision} from {base})", done=1, total=1)
    return manifest


def add_exported(ws: Workspace, folder: Path, name: str | None = None,
                 progress: Optional[ProgressCallback] = None) -> ModelManifest:
    """Register a model folder SafeVet exported elsewhere (its manifest.json and files).

    The export needs torch; running does not. So a workstation with the
    runtime-only install can take `$SAFEVET_HOME/models/NAME` copied from a
    connected machine. Every listed file is hashed against the manifest in the
    source folder *before* anything is copied, the copy is hashed again in a
    hidden staging folder, and only then renamed into place: a tampered or
    incomplete folder registers nothing.
    """
    from engine.models.folder_contents import check_contents
    from engine.models.registry import check_folder
    from engine.safepath import contained

    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise SafeVetError(f"{folder}: not a folder (give the exported model folder, "
                           f"e.g. a copy of $SAFEVET_HOME/models/NAME)")
    manifest = ModelManifest.read(folder)
    label = f"exported model folder {folder}"
    check_folder(folder, manifest, label, progress=progress)
    check_contents(folder, manifest)
    name = check_name(name or manifest.name)
    _refuse_existing(ws, name)
    with _staged(ws, name) as staging:
        for rel in manifest.files:
            target = contained(staging, rel, source=folder / "manifest.json",
                               field=f"files.{rel}")
            target.parent.mkdir(parents=True, exist_ok=True)
            emit(progress, "import", f"copying {rel}")
            shutil.copyfile(folder / rel, target, follow_symlinks=False)
        if name != manifest.name:
            manifest = manifest.model_copy(update={"name": name})
        manifest.write(staging)
        check_folder(staging, manifest, f"copy of {folder}", progress=progress)
    emit(progress, "import", f"registered {name} ({manifest.precision})", done=1, total=1)
    return manifest
