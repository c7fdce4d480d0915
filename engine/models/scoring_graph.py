"""The graph onnxruntime runs, derived in memory from the verified model.onnx (issue 10).

Two edits, each optional and each keeping results equal (tests compare them):
a last-position output head (below) and fused attention
(engine.models.attention_fusion).

optimum's `text-generation-with-past` export applies the LM head (hidden ->
vocabulary MatMul) at every position, so `logits` is [batch, seq, vocab]: for
an 8k-token prompt that is 1.6 GB of fp32 nobody reads, and on short prompts
the head is a quarter of the FLOPs. Scoring and generation only ever read the
last column (prompts are left-padded), so we insert

    Slice(hidden, starts=[-1], ends=[INT64_MAX], axes=[1])

on the activation input of the LM head (the last MatMul / MatMulNBits / Gemm),
which makes `logits` [batch, 1, vocab]. The head usually produces `logits`
itself; Gemma 2 soft-caps it first (logits = cap * tanh(head / cap): Div, Tanh,
Mul after the head), so the head is found by walking back from `logits` through
elementwise ops whose other input is a constant scalar or vocabulary-sized vector
(the same at every position). Those act on each logit alone, so slicing before
them is exact and they stay where they are. The `present.*` outputs are
untouched, so prefix reuse and generation keep their KV caches.

Integrity: nothing is written to disk. The graph is derived from the bytes of
model.onnx read once here, whose sha256 is checked against the manifest before
they are parsed; onnxruntime is then given the edited bytes. So what runs is a
fixed function of exactly the bytes the manifest vouches for, and the model
folder still holds only files the manifest lists.

External data (issue 17): a model over 2 GB cannot be one protobuf, so optimum
writes its weights to `model.onnx_data` beside a small model.onnx. We keep them
there, by reference: model.onnx is parsed without loading external data (the
edits touch only nodes and a few new inline constants), and onnxruntime gets the
edited graph bytes together with the model folder (session config entry
`session.model_external_initializers_file_folder_path`, see
engine.models.session), from which it reads or maps the weights itself. Chosen
over writing a derived copy into the folder because the weights are never
rewritten, read only by onnxruntime, and held once in memory; the folder gains
no file, so the manifest and `verify` are unchanged. Before that, every data
file the graph names is checked by engine.models.external_data: inside the
folder, listed in the manifest, and hashing to what it lists (a file the load's
registry check hashed a moment ago is taken from its unchanged stamp rather than
read twice; otherwise it is hashed once here). So a load reads each data file
once at most: in full at the first load after import or after any change, a
stat on later loads (the registry's stamp cache). Once onnxruntime has built
the session, each data file's stamp is compared again, so a write between the
check and onnxruntime's read is refused too. Measured on SmolLM2-135M fp32
(514 MiB of weights, `benchmarks/external_data_memory.py`): peak RSS of
load_model plus one scoring call 721 MiB with external data (the bare process
is ~72 MiB), against 1631 MiB for the same model with inline weights.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InputError, IntegrityError, SafeVetError
from engine.models import external_data
from engine.models.file_stamps import Stamp

_HEAD_OPS = ("MatMul", "MatMulNBits", "Gemm")
# Ops allowed between the head and `logits` (Gemma's final soft-cap): each maps one logit
# to one logit, given a constant the same at every position, so they commute with the Slice.
_ELEMENTWISE_TAIL = ("Mul", "Div", "Add", "Sub", "Tanh")
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class DerivedGraph:
    data: bytes                       # serialized ModelProto for onnxruntime
    fused_attention_layers: int
    attention_note: str | None        # why attention was left unfused, when it was
    # Where onnxruntime finds the weights the graph keeps outside itself (None: it keeps
    # none), and each such file's stamp when its hash was checked, to be re-checked
    # once onnxruntime has read it.
    data_folder: Path | None = None
    data_stamps: Mapping[str, Stamp] = field(default_factory=dict)


def read_verified(onnx_path: Path, expected_sha256: str | None) -> bytes:
    data = Path(onnx_path).read_bytes()
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise IntegrityError(f"{onnx_path.name} changed after verification (sha256 "
                                 f"{actual[:12]}..., manifest says {expected_sha256[:12]}...); "
                                 f"re-import the model")
    return data


def derive_graph(onnx_path: Path, expected_sha256: str | None, *, last_position: bool = True,
                 fuse: bool = True, data_files: Mapping[str, str] | None = None,
                 label: str | None = None) -> DerivedGraph:
    """model.onnx (checked against the manifest's sha256) with the requested edits applied.

    `data_files` is the manifest's `files`, named from the folder holding the graph
    (external_data.files_beside): every external data file the graph names must be
    listed there with its sha256. None (tests, with `expected_sha256` None) checks only
    that those files lie inside that folder.
    """
    from engine.models.attention_fusion import fuse_attention

    label = label or onnx_path.name
    model = parse_graph(read_verified(onnx_path, expected_sha256), onnx_path)
    folder, stamps = _checked_external_data(model, onnx_path, data_files, label)
    if last_position:
        _slice_before_head(model, onnx_path.name)
    layers, note = 0, "not requested"
    if fuse:
        result = fuse_attention(model, base_dir=onnx_path.parent)
        layers, note = result.layers, result.reason
    return DerivedGraph(model.SerializeToString(), layers, note, folder, stamps)


def parse_graph(data: bytes, onnx_path: Path):
    """The ModelProto in `data`, external weights left where they are (not read)."""
    import onnx
    from google.protobuf.message import DecodeError
    try:
        return onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InputError(onnx_path, f"not a readable ONNX model ({type(exc).__name__}); "
                                    f"re-import the model") from None


def _checked_external_data(model, onnx_path: Path, data_files: Mapping[str, str] | None,
                           label: str) -> tuple[Path | None, dict[str, Stamp]]:
    """The folder onnxruntime reads external weights from and their checked stamps
    (None, {} for a graph that keeps all its weights inside)."""
    locations = external_data.referenced_locations(model)
    if not locations:
        return None, {}
    folder = onnx_path.parent
    if data_files is None:
        for location, tensor in locations.items():
            external_data.data_file(folder, location, tensor, onnx_path)
        return folder, {}
    return folder, external_data.verify_data_files(folder, locations, data_files, onnx_path,
                                                   label)


def last_position_graph(onnx_path: Path, expected_sha256: str | None) -> bytes:
    """Serialized ONNX model whose `logits` output holds only the last position."""
    return derive_graph(onnx_path, expected_sha256, fuse=False).data


def _is_per_logit_constant(name: str, producer: Mapping[str, object],
                           initializer_dims: Mapping[str, list[int]]) -> bool:
    """Whether `name` is fixed in the graph (an initializer or a Constant) with at most one
    axis: a scalar (a soft-cap) or a vector over the vocabulary (a head bias). Either
    broadcasts along the last axis only, so it is the same at every position."""
    node = producer.get(name)
    if node is None:
        return name in initializer_dims and len(initializer_dims[name]) <= 1
    if node.op_type != "Constant" or not node.attribute:
        return False
    attr = node.attribute[0]
    return attr.name in ("value_float", "value_int") or (
        attr.name == "value" and len(attr.t.dims) <= 1)


def find_lm_head(model, file_name: str):
    """(index, node) of the LM head: the MatMul/MatMulNBits/Gemm `logits` comes from,
    directly or through an elementwise tail with per-logit constants (Gemma's soft-cap).

    Each tensor on that tail must feed only the next tail op and be no graph output,
    so slicing before the head changes `logits` alone."""
    g = model.graph
    position = {o: i for i, n in enumerate(g.node) for o in n.output}
    producer = {o: g.node[i] for o, i in position.items()}
    users = Counter(name for n in g.node for name in n.input)
    outputs = {o.name for o in g.output}
    dims = {t.name: list(t.dims) for t in g.initializer}
    current, tail = "logits", []
    node = producer.get(current)
    while node is not None and node.op_type in _ELEMENTWISE_TAIL:
        data = [x for x in node.input if not _is_per_logit_constant(x, producer, dims)]
        if len(data) != 1 or users[data[0]] != 1 or data[0] in outputs:
            break
        tail.append(node.op_type)
        current, node = data[0], producer.get(data[0])
    if node is None or node.op_type not in _HEAD_OPS:
        found = node.op_type if node is not None else "none"
        after = f" before {'/'.join(reversed(tail))}" if tail else ""
        raise SafeVetError(f"{file_name}: cannot find the LM head MatMul producing "
                           f"`logits` (found {found}{after})")
    return position[current], node


def _slice_before_head(model, file_name: str) -> None:
    from onnx import TensorProto, helper

    g = model.graph
    idx, head = find_lm_head(model, file_name)
    hidden = head.input[0]
    sliced = hidden + "/last_position"
    consts = [helper.make_tensor(f"{sliced}/{k}", TensorProto.INT64, [1], [v])
              for k, v in (("starts", -1), ("ends", INT64_MAX), ("axes", 1))]
    g.initializer.extend(consts)
    node = helper.make_node("Slice", [hidden, *(c.name for c in consts)], [sliced],
                            name="/safevet/last_position_slice")
    head.input[0] = sliced
    # Keep the graph topologically sorted: the Slice goes right before the head.
    nodes = list(g.node)
    g.ClearField("node")
    g.node.extend(nodes[:idx] + [node] + nodes[idx:])
    for out in g.output:
        if out.name == "logits":
            dims = out.type.tensor_type.shape.dim
            if len(dims) == 3:
                dims[1].ClearField("dim_param")
                dims[1].dim_value = 1
