"""The onnxruntime session a candidate runs in: options, the derived graph, the record.

Everything that decides *how* a model executes is chosen here and written into
the session record (`session_info`), because a report must say which provider,
threads and graph edits produced its figures.

onnxruntime always gets the derived graph as bytes (engine.models.scoring_graph);
a graph whose weights live in external data files also gets the model folder, so
onnxruntime reads them in place (issue 17). Any failure to build the session ends
in one SafeVetError line naming the model, never onnxruntime's traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import SafeVetError
from engine.models.external_data import check_unchanged, files_beside
from engine.models.manifest import ModelManifest
from engine.models.providers import ProviderChoice, physical_cores
from engine.models.runtime_options import RuntimeOptions

if TYPE_CHECKING:
    import onnxruntime

    from engine.models.scoring_graph import DerivedGraph

# onnxruntime session config entries, recorded in session_info. Measured on SmolLM2-135M
# fp32, 2 cores, beside other work (load 2-4), batches of 8, best of 3, interleaved:
# spinning off was faster in every pair (~110-token prompts 7.1 vs 3.1 items/s, ~470-token
# 1.26 vs 0.59): spinning threads fight whatever else the workstation runs.
# Denormals as zero: softmax over masked attention scores produced subnormal floats whose
# arithmetic is ~20x slower on x86; flushing them took the fused attention kernel from
# 2.7 to 1.3 ms per layer at 336 tokens (results equal: only values < 1.2e-38 change).
SESSION_CONFIG: dict[str, str] = {
    "session.intra_op.allow_spinning": "0",
    "session.set_denormal_as_zero": "1",
}
# Where onnxruntime resolves external data locations of a graph given as bytes (checked
# in onnxruntime 1.31: without it, it looks in the current directory).
EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path"


@dataclass(frozen=True)
class OpenedSession:
    """A started session and the facts about it that a run record shows."""

    session: "onnxruntime.InferenceSession"
    execution_provider: str       # what really runs: onnxruntime may fall back on its own
    provider_notice: str | None
    intra_op_threads: int
    inter_op_threads: int
    memory_pattern: bool
    cpu_mem_arena: bool
    scoring_head: str
    attention: str                # as the record says it, e.g. "fused (ONNX Attention, 30 layers)"
    onnxruntime_version: str

    def record(self) -> dict[str, object]:
        """The session's part of `session_info`, in the key order run records have always had."""
        return {
            "execution_provider": self.execution_provider,
            "providers": self.session.get_providers(),
            "intra_op_threads": self.intra_op_threads,
            "inter_op_threads": self.inter_op_threads,
            "execution_mode": "sequential",
            "graph_optimization": "all",
            "memory_pattern": self.memory_pattern,
            "cpu_mem_arena": self.cpu_mem_arena,
            **{k.rsplit(".", 1)[-1]: v for k, v in SESSION_CONFIG.items()},
            "scoring_head": self.scoring_head,
            "attention": self.attention,
            "onnxruntime": self.onnxruntime_version,
        }


def release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise, inflating RSS)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def session_options(threads: int | None) -> "onnxruntime.SessionOptions":
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or physical_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    for key, value in SESSION_CONFIG.items():
        opts.add_session_config_entry(key, value)
    return opts


def graph_to_run(folder: Path, manifest: ModelManifest,
                 options: RuntimeOptions) -> tuple["DerivedGraph", str]:
    """The verified graph with the requested edits; and how attention runs, for the record.

    Always bytes derived from the hash-checked model.onnx, even with no edit requested
    ("full" head, "plain" attention), so the external data files it names are checked
    on every path and onnxruntime never opens a model file by name.
    """
    from engine.models.scoring_graph import derive_graph
    derived = derive_graph(folder / manifest.onnx_file, manifest.files.get(manifest.onnx_file),
                           last_position=options.scoring_head == "last",
                           fuse=options.attention == "fused",
                           data_files=files_beside(manifest.files, manifest.onnx_file),
                           label=f"model {manifest.name}")
    if derived.fused_attention_layers:
        attention = f"fused (ONNX Attention, {derived.fused_attention_layers} layers)"
    elif options.attention == "fused":
        attention = f"plain (not fusable: {derived.attention_note})"
    else:
        attention = "plain (as exported)"
    return derived, attention


def _load_failures() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises when it cannot build a session: its own error classes
    (Fail, InvalidGraph, NoSuchFile, ... which derive from Exception only) and the
    Python ones its bindings use."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    classes = (getattr(state, name) for name in dir(state))
    own = tuple(c for c in classes if isinstance(c, type) and issubclass(c, Exception))
    return own + (RuntimeError, ValueError, OSError, MemoryError)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The cause as one line for a user: onnxruntime's messages can run to many lines."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def start_session(graph: bytes, opts: "onnxruntime.SessionOptions", providers: list,
                  manifest: ModelManifest) -> "onnxruntime.InferenceSession":
    """onnxruntime's session on `graph`, or a SafeVetError naming the model and the cause."""
    import onnxruntime as ort
    try:
        return ort.InferenceSession(graph, opts, providers=providers)
    except _load_failures() as exc:
        raise SafeVetError(f"model {manifest.name}: onnxruntime could not load "
                           f"{manifest.onnx_file}: {first_line(exc)}") from None


def open_session(folder: Path, manifest: ModelManifest, choice: ProviderChoice,
                 threads: int | None, options: RuntimeOptions) -> OpenedSession:
    """Start onnxruntime on the verified model, noticing when it silently changed provider."""
    import onnxruntime as ort

    opts = session_options(threads)
    derived, attention = graph_to_run(folder, manifest, options)
    if derived.data_folder is not None:
        # The graph comes as bytes, so onnxruntime must be told where its weights are
        # (else it looks in the current directory and refuses). Absolute: a later chdir
        # must not matter.
        opts.add_session_config_entry(EXTERNAL_DATA_FOLDER, str(derived.data_folder.absolute()))
    session = start_session(derived.data, opts, choice.providers, manifest)
    if derived.data_folder is not None:
        check_unchanged(derived.data_folder, derived.data_stamps, f"model {manifest.name}")
    del derived
    release_freed_memory()   # the derivation's transient copies (~2x an inline model)
    provider, notice = choice.name, choice.notice
    if session.get_providers()[0] != provider:
        # onnxruntime fell back on its own (e.g. CUDA libraries missing): say so.
        provider = session.get_providers()[0]
        notice = f"onnxruntime could not start {choice.name}; running on {provider}"
    return OpenedSession(session=session, execution_provider=provider, provider_notice=notice,
                         intra_op_threads=opts.intra_op_num_threads,
                         inter_op_threads=opts.inter_op_num_threads,
                         memory_pattern=opts.enable_mem_pattern,
                         cpu_mem_arena=opts.enable_cpu_mem_arena,
                         scoring_head=options.scoring_head, attention=attention,
                         onnxruntime_version=ort.__version__)
