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

on the activation input of the node that produces `logits` (the last MatMul /
MatMulNBits), which makes `logits` [batch, 1, vocab]. The `present.*` outputs
are untouched, so prefix reuse and generation keep their KV caches.

Integrity: nothing is written to disk. The graph is derived from the bytes of
model.onnx read once here, whose sha256 is checked against the manifest before
they are parsed; onnxruntime is then given the edited bytes. So what runs is a
fixed function of exactly the bytes the manifest vouches for, and the model
folder still holds only files the manifest lists.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine.errors import IntegrityError, SafeVetError

_HEAD_OPS = ("MatMul", "MatMulNBits", "Gemm")
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class DerivedGraph:
    data: bytes                       # serialized ModelProto for onnxruntime
    fused_attention_layers: int
    attention_note: str | None        # why attention was left unfused, when it was


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
                 fuse: bool = True) -> DerivedGraph:
    """model.onnx (checked against the manifest's sha256) with the requested edits applied."""
    import onnx

    from engine.models.attention_fusion import fuse_attention

    model = onnx.load_from_string(read_verified(onnx_path, expected_sha256))
    if last_position:
        _slice_before_head(model, onnx_path.name)
    layers, note = 0, "not requested"
    if fuse:
        result = fuse_attention(model)
        layers, note = result.layers, result.reason
    return DerivedGraph(model.SerializeToString(), layers, note)


def last_position_graph(onnx_path: Path, expected_sha256: str | None) -> bytes:
    """Serialized ONNX model whose `logits` output holds only the last position."""
    return derive_graph(onnx_path, expected_sha256, fuse=False).data


def _slice_before_head(model, file_name: str) -> None:
    from onnx import TensorProto, helper

    g = model.graph
    idx, head = next(((i, n) for i, n in reversed(list(enumerate(g.node)))
                      if "logits" in n.output), (-1, None))
    if head is None or head.op_type not in _HEAD_OPS or head.output[0] != "logits":
        raise SafeVetError(f"{file_name}: cannot find the LM head MatMul producing "
                           f"`logits` (found {head.op_type if head is not None else 'none'})")
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
