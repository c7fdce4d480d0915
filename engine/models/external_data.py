"""Weights kept outside model.onnx: which files a graph names, and that each is one we vouch for.

An ONNX graph may keep any tensor's bytes in another file (optimum does so for every
model over 2 GB, as `model.onnx_data`), naming it by a `location` written inside the
graph. That name is untrusted input like any other: before onnxruntime opens a data
file, each location must be a plain file inside the model folder (no absolute path,
no `..`, no link), listed in the manifest, and hash to what the manifest lists.
Otherwise a model.onnx whose own hash is right could make onnxruntime load weights
nobody verified.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath

from engine.errors import IntegrityError
from engine.models import file_stamps
from engine.safepath import contained, regular_file

_EXTERNAL = 1   # onnx.TensorProto.EXTERNAL, without importing onnx here


def referenced_locations(model) -> dict[str, str]:
    """Every external data location in `model` (onnx.ModelProto) -> one tensor stored there.

    Covers initializers, sparse initializers and tensors inside node attributes
    (Constant nodes, which optimum also moves out), in subgraphs and functions.
    """
    found: dict[str, str] = {}
    for tensor in _all_tensors(model):
        if tensor.data_location != _EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        found.setdefault(location, tensor.name or "(unnamed tensor)")
    return found


def _all_tensors(model) -> Iterator:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        yield from _node_tensors(function.node)


def _graph_tensors(graph) -> Iterator:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes: Iterable) -> Iterator:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g)
            for sub in attr.graphs:
                yield from _graph_tensors(sub)


def files_beside(files: Mapping[str, str], onnx_file: str) -> dict[str, str]:
    """The manifest's `files` (named from the model folder) named as the graph names its
    data files: relative to the folder holding `onnx_file`. The same map when model.onnx
    sits at the top, as every SafeVet export does."""
    parent = PurePosixPath(onnx_file).parent
    if parent == PurePosixPath("."):
        return dict(files)
    prefix = f"{parent}/"
    return {rel[len(prefix):]: sha for rel, sha in files.items() if rel.startswith(prefix)}


def inside(folder: Path, location: str, tensor: str, onnx_path: Path) -> Path:
    """`folder/location`, refused (UnsafePathError naming the graph and the tensor) if it is
    absolute, climbs out with `..` or passes through a link; it need not exist."""
    return contained(folder, location, source=onnx_path, field=f"external data of {tensor}")


def data_file(folder: Path, location: str, tensor: str, onnx_path: Path) -> Path:
    """The data file `location` inside `folder`, refused if it escapes, is a link or is
    not a plain file."""
    return regular_file(inside(folder, location, tensor, onnx_path),
                        what=f"external data file {location}")


def check_listed(locations: Mapping[str, str], listed: Mapping[str, str], onnx_name: str,
                 label: str) -> None:
    """Each location is a file the manifest lists (a name it does not list was never
    hashed by anyone)."""
    for location, tensor in sorted(locations.items()):
        if location not in listed:
            raise IntegrityError(f"{label}: {onnx_name} keeps the weights of {tensor} in "
                                 f"{location!r}, which the manifest does not list; "
                                 f"re-import the model")


def verify_data_files(folder: Path, locations: Mapping[str, str], listed: Mapping[str, str],
                      onnx_path: Path, label: str) -> dict[str, file_stamps.Stamp]:
    """Check every data file the graph names; returns each one's stamp at the check.

    A file checked earlier in this process (the load's registry check) with an unchanged
    stamp is not read again; any other is hashed once here.
    """
    for location, tensor in locations.items():   # where it points, before whether it is listed
        inside(folder, location, tensor, onnx_path)
    check_listed(locations, listed, onnx_path.name, label)
    stamps: dict[str, file_stamps.Stamp] = {}
    for location, tensor in sorted(locations.items()):
        path = data_file(folder, location, tensor, onnx_path)
        actual, stamps[location] = file_stamps.checked_sha256(path)
        expected = listed[location]
        if actual != expected:
            raise IntegrityError(f"{label}: file {location} has changed or is truncated "
                                 f"(sha256 {actual[:12]}..., manifest says {expected[:12]}...); "
                                 f"re-import the model")
    return stamps


def check_unchanged(folder: Path, stamps: Mapping[str, file_stamps.Stamp], label: str) -> None:
    """After onnxruntime has read the data files: none was written since it was checked."""
    for location, before in sorted(stamps.items()):
        try:
            now = file_stamps.stamp(folder / location)
        except OSError:
            now = None
        if now != before:
            raise IntegrityError(f"{label}: file {location} changed while the model was "
                                 f"loading; load it again")
