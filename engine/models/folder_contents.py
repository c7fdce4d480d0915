"""A model folder from elsewhere holds what its manifest claims: real files that parse.

Hashes only prove that the bytes are the ones the manifest lists; whoever
wrote the manifest chose those bytes. Before a copied folder is registered,
each listed name must stay inside the folder as a plain file (no link, no
`..`), the tokenizer must load, and the ONNX graph must parse, produce
`logits` from `input_ids`, and keep its external weights inside the folder
and in the manifest. Otherwise the first run would be the place where an
empty or hostile file is found, with a library's traceback.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from engine.errors import InputError
from engine.models.external_data import referenced_locations
from engine.models.manifest import MANIFEST_FILE, ModelManifest
from engine.safepath import contained, regular_file


def listed_file(folder: Path, manifest: ModelManifest, rel: str) -> Path:
    """The listed file `rel` inside `folder`, refused if it escapes or is a link."""
    path = contained(folder, rel, source=folder / MANIFEST_FILE, field=f"files.{rel}")
    if path.exists() or path.is_symlink():
        regular_file(path, what=f"model file {rel}")
    return path


def check_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for any parse failure
        raise InputError(path, f"not a readable tokenizer.json ({' '.join(str(exc).split())[:200]})"
                         ) from None
    if tok.get_vocab_size() == 0:
        raise InputError(path, "tokenizer has an empty vocabulary")


def check_onnx_graph(folder: Path, manifest: ModelManifest) -> None:
    """Parse the graph (weights left on disk) and check its inputs, outputs and data files."""
    import onnx
    from google.protobuf.message import DecodeError

    path = folder / manifest.onnx_file
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise InputError(path, f"not a readable ONNX model ({type(exc).__name__})") from None
    graph = model.graph
    inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    if not graph.node or "input_ids" not in inputs or "logits" not in outputs:
        raise InputError(path, "not a causal language model export (expected a graph with "
                               "input 'input_ids' and output 'logits')")
    # Every tensor, not only initializers: optimum also moves Constant nodes' values out.
    # A location is relative to the folder holding the graph, a manifest name to `folder`.
    beside = PurePosixPath(manifest.onnx_file).parent
    for location, tensor in sorted(referenced_locations(model).items()):
        rel = str(beside / location) if location else location
        listed_file(folder, manifest, rel)
        if rel not in manifest.files:
            raise InputError(path, f"weights of {tensor} live in {location!r}, which the "
                                   f"manifest does not list", field="files")


def check_contents(folder: Path, manifest: ModelManifest) -> None:
    """Every check above; raises InputError naming the first file that fails."""
    for rel in manifest.files:
        listed_file(folder, manifest, rel)
    check_tokenizer(folder / "tokenizer.json")
    check_onnx_graph(folder, manifest)
