"""One ONNX `Attention` node per layer in place of optimum's unfused attention (issue 10).

optimum exports Llama-family attention as about forty small nodes per layer:
the grouped K/V heads are copied out to every query head (Unsqueeze, Expand,
Reshape), Q and K are each scaled, Q·Kᵀ gets a -inf mask added, then Softmax,
a NaN clean-up for fully masked rows (IsNaN, Where) and the product with V.
On a 2-core CPU that subgraph was a fifth of a 336-token forward pass; the
float score tensor is written and read five times per layer.

The standard ONNX `Attention` operator (opset 23) does the same in one kernel:
4-D Q [B, q_heads, S, H], K/V [B, kv_heads, T, H] with grouped heads handled
natively, and the same boolean mask (True = attend). We feed it exactly the
tensors the exported graph already computes (rotated Q, the `present.*` K/V,
the sliced boolean mask), give it the product of the two scale constants, and
let everything that only fed the old subgraph fall away. Rows that are fully
masked (left-padding positions) come out finite: the kernel fills masked
scores with the lowest float rather than -inf, so no NaN clean-up is needed.

Matching is strict and all-or-nothing: every layer must have exactly the
expected shape of subgraph, or the graph is left as exported and the reason is
returned for the session record. Results were bitwise equal to the unfused
graph on SmolLM2-135M fp32 (scales 0.3536² fold to exactly 0.125). The direct
exporter (engine.models.direct_export) writes this same subgraph (its scale on Q
alone, 1 on Kᵀ), so its exports are fused by this matcher too.

Families (issue 17). Sliding-window layers (Mistral, Gemma 2/3) need nothing
more: the window is part of the boolean mask the exported graph computes for
each layer, and that mask is what the fused node gets. Models whose K/V heads
equal their query heads (no repeat_kv copy) feed the cached K/V directly.
Attention soft-capping (Gemma 2: cap·tanh(Q·Kᵀ/cap) before the mask) is
refused for now. ONNX Attention's `softcap` could express it (applied before the
mask, as Gemma 2 does; onnxruntime 1.31's CPU kernel honours it: 7e-7 from numpy
on random inputs), but such a model is exported with eager attention
(engine.models.importer.needs_eager_attention), whose subgraph this matcher does
not take yet: one scale Mul after Q·Kᵀ, a float mask Where(mask, 0, lowest),
a Cast after Softmax and no NaN clean-up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ATTENTION_OPSET = 23
# What may lie between the Q·Kᵀ scores and Softmax when looking for a soft-cap's Tanh.
_SCORE_ELEMENTWISE = ("Cast", "Add", "Mul", "Div")


@dataclass(frozen=True)
class FusionResult:
    layers: int                 # attention subgraphs replaced
    reason: str | None = None   # why nothing was fused, when layers == 0


class _NoMatch(Exception):
    pass


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise _NoMatch(what)


def tensor_value(tensor, base_dir: Path | None):
    """A constant's value as numpy, reading external data from `base_dir` (whose data
    files the caller has checked), never from the current directory; onnx (1.23) reads
    it without changing the graph's tensor, which keeps its external reference."""
    from onnx import TensorProto, numpy_helper

    if tensor.data_location != TensorProto.EXTERNAL:
        return numpy_helper.to_array(tensor)
    _need(base_dir is not None, f"{tensor.name}: constant kept in external data")
    return numpy_helper.to_array(tensor, base_dir=str(base_dir))


def fuse_attention(model, base_dir: Path | None = None) -> FusionResult:
    """Rewrite `model` (onnx.ModelProto) in place; returns how many layers were fused.

    `base_dir`: the model folder, for the few scalar constants the matcher reads when
    an export moved them to external data too.
    """
    import numpy as np
    from onnx import helper

    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    initializers = {t.name: t for t in g.initializer}

    def node(name: str, op: str):
        n = producer.get(name)
        _need(n is not None and n.op_type == op, f"{name}: expected {op}, "
              f"found {n.op_type if n is not None else 'a graph input'}")
        return n

    def constant(name: str):
        n = producer.get(name)
        if n is not None and n.op_type == "Constant" and n.attribute:
            return tensor_value(n.attribute[0].t, base_dir)
        _need(name in initializers, f"{name}: expected a constant")
        return tensor_value(initializers[name], base_dir)

    def grouped_source(name: str) -> str:
        """K or V before optimum's repeat_kv copy: Reshape(Expand(Unsqueeze(x))); with as
        many K/V heads as query heads there is no copy and it is the cached `present.*`."""
        n = producer.get(name)
        if n is None or n.op_type != "Reshape":
            _need(name.startswith("present."), f"{name}: expected repeated or cached K/V")
            return name
        expand = node(n.input[0], "Expand")
        return node(expand.input[0], "Unsqueeze").input[0]

    def soft_capped(softmax) -> bool:
        """Whether the scores reach `softmax` through a Tanh (Gemma 2's cap·tanh(x/cap)),
        looking back a few elementwise steps (Cast, Add of the mask, Mul/Div of the cap)."""
        frontier, steps = [softmax], 0
        while frontier and steps < 5:
            frontier = [producer[x] for n in frontier for x in n.input if x in producer]
            if any(n.op_type == "Tanh" for n in frontier):
                return True
            frontier = [n for n in frontier if n.op_type in _SCORE_ELEMENTWISE]
            steps += 1
        return False

    def only(nodes: list, op: str, what: str):
        found = [n for n in nodes if n.op_type == op]
        _need(len(found) == 1, f"{what}: expected one {op}")
        return found[0]

    replacements = {}
    softmaxes = [n for n in g.node if n.op_type == "Softmax"]
    try:
        _need(bool(softmaxes), "no Softmax in the graph")
        for sm in softmaxes:
            _need(not soft_capped(sm), "attention soft-capping (tanh on the Q·Kᵀ scores)")
            add = node(sm.input[0], "Add")
            a, b = (producer.get(x) for x in add.input)
            scores, bias = (a, b) if a is not None and a.op_type == "MatMul" else (b, a)
            _need(scores is not None and scores.op_type == "MatMul", f"{sm.name}: no Q·K MatMul")
            _need(bias is not None and bias.op_type == "Where", f"{sm.name}: no mask Where")
            allowed, blocked = constant(bias.input[1]), constant(bias.input[2])
            _need(bool(np.all(allowed == 0)) and bool(np.all(np.isneginf(blocked))),
                  f"{bias.name}: mask is not Where(mask, 0, -inf)")
            q_scale, k_scale = node(scores.input[0], "Mul"), node(scores.input[1], "Mul")
            scale = float(constant(q_scale.input[1])) * float(constant(k_scale.input[1]))
            _need(scale > 0, f"{sm.name}: non-positive scale")
            k_t = node(k_scale.input[0], "Transpose")
            _need(list(k_t.attribute[0].ints) == [0, 1, 3, 2], f"{k_t.name}: not Kᵀ")
            key = grouped_source(k_t.input[0])
            users = consumers.get(sm.output[0], [])
            _need(len(users) == 2, f"{sm.name}: expected IsNaN and Where after Softmax")
            only(users, "IsNaN", sm.name)
            clean = only(users, "Where", sm.name)
            after = consumers.get(clean.output[0], [])
            _need(len(after) == 1 and after[0].op_type == "MatMul", f"{clean.name}: no ·V")
            out = after[0]
            value = grouped_source(out.input[1])
            fused = helper.make_node(
                "Attention", [q_scale.input[0], key, value, bias.input[0]], [out.output[0]],
                name=(sm.name.rsplit("/", 1)[0] + "/safevet_fused_attention"), scale=scale)
            replacements[id(out)] = fused
    except _NoMatch as why:
        return FusionResult(0, str(why))
    _replace_nodes(model, replacements)
    return FusionResult(len(replacements))


def _replace_nodes(model, replacements: dict[int, object]) -> None:
    """Swap in the fused nodes (keyed by id() of the ·V MatMul each replaces), drop what
    only the old subgraphs used, and raise the opset to one that has Attention."""
    g = model.graph
    nodes = [replacements.get(id(n), n) for n in g.node]
    # Keep only what the outputs still need (the old subgraphs, the repeat_kv copies).
    needed = {o.name for o in g.output}
    kept = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed.update(i for i in n.input if i)
    kept.reverse()
    g.ClearField("node")
    g.node.extend(kept)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < ATTENTION_OPSET:
            opset.version = ATTENTION_OPSET
