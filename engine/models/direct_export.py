"""Direct ONNX export of Llama-family decoders, weights streamed one tensor at a time (issue 17).

optimum traces the model in PyTorch: the whole fp32 model lives in memory, then the
trace and the serialised graph besides, ~4x the weights (a 524M model peaked at 8.9 GB;
a 7B one cannot be exported on a 24 GB machine). This module writes the same decoder
graph from config.json alone with onnx.helper, and copies the weights from the
safetensors files to `model.onnx_data` one tensor at a time (engine.models.weight_reader,
engine.models.graph_builder), so peak memory is about two copies of the largest tensor.

The graph is what the runtime expects of an optimum `text-generation-with-past` export:
inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.N.key/value`
(float32 [batch, kv_heads, past, head_dim]); outputs `logits` [batch, seq, vocab] and
`present.N.key/value`. It is emitted in optimum's form, opset 18 standard ops only:
RMSNorm as Pow/ReduceMean/Add/Sqrt/Div/Mul, rotary embeddings as q*cos + rotate_half(q)*sin
from positions, grouped K/V heads copied out by Unsqueeze/Expand/Reshape, attention as
Q·Kᵀ + Where(mask, 0, -inf), Softmax, NaN clean-up, ·V, and the LM head as a MatMul
named `/lm_head/MatMul` producing `logits`. So the later graph edits apply unchanged:
engine.models.scoring_graph finds the head and slices before it, and
engine.models.attention_fusion matches every layer and fuses it to ONNX Attention; with
`attention=plain` the graph runs as written, an independent check of the fused path.

Covered (tests/test_direct_export.py compares each against PyTorch): Llama (grouped K/V,
rope_scaling default/linear/llama3, attention/MLP biases when the checkpoint has them,
tied embeddings), Mistral (sliding window, per layer as config.json's layer_types or
every layer), Qwen2 (q/k/v biases; sliding window from use_sliding_window and
max_window_layers), Qwen3 (q/k RMSNorm, head_dim != hidden/heads), Phi-3 (fused qkv and
gate_up projections split while streaming; no longrope). Gemma 2/3 (soft-caps, (1+w)
norms, GELU, scaled embeddings) and anything else are refused with a one-line error
naming the model type: `--exporter optimum` exports them.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from engine.errors import InputError, SafeVetError
from engine.models.exporters import DIRECT_MODEL_TYPES
from engine.models.graph_builder import DataFile, GraphBuilder
from engine.models.weight_reader import WeightReader

EXPORTER_NAME = "safevet-direct-export"
EXPORTER_VERSION = "1"
OPSET = 18            # as optimum's exports; attention fusion raises it to 23 at load
IR_VERSION = 8
DATA_FILE = "model.onnx_data"
_ROPE_TYPES = ("default", "linear", "llama3")
_ACTIVATIONS = ("silu", "swish")


class DirectExportError(SafeVetError):
    """The model cannot be exported by the direct exporter (use optimum)."""


def tool_versions() -> dict[str, str]:
    """What made a direct export (the manifest's export_tool_versions): no torch, no optimum."""
    from importlib import metadata
    out = {EXPORTER_NAME: EXPORTER_VERSION}
    for name in ("onnx", "numpy", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class DecoderShape:
    """What the graph needs from config.json, checked once."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    eps: float
    inv_freq: np.ndarray          # [head_dim / 2] float32, rope scaling applied
    windows: tuple[int | None, ...]   # per layer: sliding window in cache slots, or None
    qk_norm: bool                 # Qwen3: RMSNorm over each head of q and k
    fused_projections: bool       # Phi-3: qkv_proj and gate_up_proj
    tied: bool                    # lm_head is the input embedding


def _refuse(config_path: Path, what: str, field: str | None = None) -> NoReturn:
    raise DirectExportError(f"{config_path}: {what}; the direct exporter cannot export it "
                            f"(use --exporter optimum)" + (f" [field {field}]" if field else ""))


def _inv_freq(config: dict, head_dim: int, path: Path) -> np.ndarray:
    """RoPE inverse frequencies as transformers computes them (float32), scaling applied."""
    base = float(config.get("rope_theta", 10000.0))
    rotary = float(config.get("partial_rotary_factor", 1.0))
    if rotary != 1.0:
        _refuse(path, f"partial rotary embeddings ({rotary})", "partial_rotary_factor")
    inv = (1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32)
                           / np.float32(head_dim)))).astype(np.float32)
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in _ROPE_TYPES:
        _refuse(path, f"rope_scaling type {kind!r} (supported: {', '.join(_ROPE_TYPES)})",
                "rope_scaling")
    if kind == "linear":
        inv = (inv / np.float32(scaling["factor"])).astype(np.float32)
    elif kind == "llama3":
        factor = float(scaling["factor"])
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        inv = np.where(medium, smoothed, scaled).astype(np.float32)
    return inv


def _windows(config: dict, model_type: str, layers: int) -> tuple[int | None, ...]:
    """Each layer's sliding window, as transformers (4.57) decides it."""
    window = config.get("sliding_window")
    types = config.get("layer_types")
    if model_type in ("qwen2", "qwen3") and not config.get("use_sliding_window", False):
        return (None,) * layers
    if not window:
        return (None,) * layers
    if isinstance(types, list) and len(types) == layers:
        return tuple(int(window) if t == "sliding_attention" else None for t in types)
    if model_type in ("qwen2", "qwen3"):
        first = int(config.get("max_window_layers", layers))
        return tuple(int(window) if i >= first else None for i in range(layers))
    return (int(window),) * layers


def read_shape(hf_dir: Path, reader: WeightReader) -> DecoderShape:
    """The decoder's shape from config.json, refusing what this exporter does not build."""
    path = hf_dir / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable config: {exc}") from None
    model_type = config.get("model_type", "")
    if model_type not in DIRECT_MODEL_TYPES:
        _refuse(path, f"model_type {model_type!r} (direct export covers "
                      f"{', '.join(DIRECT_MODEL_TYPES)})", "model_type")
    if config.get("quantization_config"):
        _refuse(path, "a pre-quantised checkpoint", "quantization_config")
    if config.get("hidden_act", "silu") not in _ACTIVATIONS:
        _refuse(path, f"activation {config.get('hidden_act')!r}", "hidden_act")
    try:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        layers = int(config["num_hidden_layers"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        head_dim = int(config.get("head_dim") or hidden // heads)
        vocab = int(config["vocab_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"missing or invalid field {exc}") from None
    if heads % kv_heads:
        raise InputError(path, f"{heads} attention heads are not a multiple of {kv_heads} "
                               f"key/value heads", field="num_key_value_heads")
    fused = model_type == "phi3"
    if fused and (config.get("rope_scaling") or {}).get("type") == "longrope":
        _refuse(path, "Phi-3 longrope scaling", "rope_scaling")
    tied = bool(config.get("tie_word_embeddings", False)) or "lm_head.weight" not in reader
    return DecoderShape(model_type=model_type, hidden=hidden, layers=layers, heads=heads,
                        kv_heads=kv_heads, head_dim=head_dim, vocab=vocab,
                        eps=float(config.get("rms_norm_eps", 1e-6)),
                        inv_freq=_inv_freq(config, head_dim, path),
                        windows=_windows(config, model_type, layers),
                        qk_norm=model_type == "qwen3", fused_projections=fused, tied=tied)


class _DecoderGraph:
    """The graph of one decoder, built layer by layer while its weights stream out."""

    def __init__(self, shape: DecoderShape, reader: WeightReader, data: DataFile) -> None:
        self.s = shape
        self.r = reader
        self.g = GraphBuilder(data)

    # ----------------------------------------------------------------- pieces
    def linear(self, x: str, prefix: str, scope: str, rows: slice | None = None) -> str:
        """x @ W.T (+ b): the HF weight [out, in] stored transposed as the MatMul's [in, out];
        `rows` takes part of a fused projection."""
        w = self.r.read(f"{prefix}.weight")
        part = w[rows] if rows is not None else w
        name = f"{prefix}.weight" + (f"[{rows.start}:{rows.stop}]" if rows is not None else "")
        weight = self.g.weight(name, np.ascontiguousarray(part.T))
        del w, part
        y = self.g.one("MatMul", [x, weight], f"{scope}/{prefix.rsplit('.', 1)[-1]}",
                       name="MatMul")
        bias_name = f"{prefix}.bias"
        if bias_name in self.r:
            b = self.r.read(bias_name)
            b = b[rows] if rows is not None else b
            y = self.g.one("Add", [y, self.g.weight(bias_name + (
                f"[{rows.start}:{rows.stop}]" if rows is not None else ""), b)],
                f"{scope}/{prefix.rsplit('.', 1)[-1]}", name="Add")
        return y

    def rms_norm(self, x: str, weight: str, scope: str) -> str:
        g = self.g
        sq = g.one("Pow", [x, g.const(2.0, np.float32)], scope)
        mean = g.one("ReduceMean", [sq, g.const([-1])], scope, keepdims=1)
        std = g.one("Sqrt", [g.one("Add", [mean, g.const(self.s.eps, np.float32)], scope)],
                    scope)
        inv = g.one("Div", [g.const(1.0, np.float32), std], scope)
        normed = g.one("Mul", [x, inv], scope)
        return g.one("Mul", [g.weight(weight, self.r.read(weight)), normed], scope)

    def rotary(self) -> tuple[str, str]:
        """cos and sin [batch, 1, seq, head_dim] from position_ids, shared by every layer."""
        g, scope = self.g, "/model/rotary_emb"
        pos = g.one("Cast", [g.one("Unsqueeze", ["position_ids", g.const([2])], scope)], scope,
                    to=1)
        freqs = g.one("Mul", [pos, g.const(self.s.inv_freq, np.float32)], scope)
        emb = g.one("Concat", [freqs, freqs], scope, axis=-1)
        cos = g.one("Unsqueeze", [g.one("Cos", [emb], scope), g.const([1])], scope)
        sin = g.one("Unsqueeze", [g.one("Sin", [emb], scope), g.const([1])], scope)
        return cos, sin

    def rope(self, x: str, cos: str, sin: str, scope: str) -> str:
        g, half = self.g, self.s.head_dim // 2
        first = g.one("Slice", [x, g.const([0]), g.const([half]), g.const([-1])], scope)
        second = g.one("Slice", [x, g.const([half]), g.const([2**62]), g.const([-1])], scope)
        rotated = g.one("Concat", [g.one("Neg", [second], scope), first], scope, axis=-1)
        return g.one("Add", [g.one("Mul", [x, cos], scope), g.one("Mul", [rotated, sin], scope)],
                     scope)

    def masks(self) -> dict[int | None, str]:
        """The additive attention bias Where(mask, 0, -inf) [batch, 1, seq, total] per window:
        causal, padding from attention_mask, and for a window kv > q - window (cache slots)."""
        g, scope = self.g, "/model/mask"
        past = g.one("Gather", [g.one("Shape", ["past_key_values.0.key"], scope), g.const(2)],
                     scope, axis=0)
        total = g.one("Gather", [g.one("Shape", ["attention_mask"], scope), g.const(1)], scope,
                      axis=0)
        q_pos = g.one("Unsqueeze", [g.one("Range", [past, total, g.const(1)], scope),
                                    g.const([1])], scope)
        k_pos = g.one("Unsqueeze", [g.one("Range", [g.const(0), total, g.const(1)], scope),
                                    g.const([0])], scope)
        causal = g.one("LessOrEqual", [k_pos, q_pos], scope)
        pad = g.one("Cast", [g.one("Unsqueeze", ["attention_mask", g.const([1, 2])], scope)],
                    scope, to=9)
        full = g.one("And", [causal, pad], scope)
        out = {}
        for window in sorted(set(self.s.windows), key=lambda w: w or 0):
            mask = full
            if window is not None:
                lower = g.one("Sub", [q_pos, g.const(window)], scope)
                mask = g.one("And", [full, g.one("Greater", [k_pos, lower], scope)], scope)
            out[window] = mask
        return out

    def repeat_kv(self, present: str, scope: str) -> str:
        s, g = self.s, self.g
        if s.heads == s.kv_heads:
            return present
        n_rep = s.heads // s.kv_heads
        x = g.one("Unsqueeze", [present, g.const([2])], scope)
        x = g.one("Expand", [x, g.const([1, 1, n_rep, 1, 1])], scope)
        return g.one("Reshape", [x, g.const([0, s.heads, -1, s.head_dim])], scope)

    def heads_first(self, x: str, heads: int, scope: str, norm: str | None = None) -> str:
        """[b, s, heads*d] -> [b, heads, s, d], with Qwen3's per-head RMSNorm before the move."""
        g = self.g
        x = g.one("Reshape", [x, g.const([0, 0, heads, self.s.head_dim])], scope)
        if norm is not None:
            x = self.rms_norm(x, norm, f"{scope}/{norm.rsplit('.', 2)[-2]}")
        return g.one("Transpose", [x], scope, perm=[0, 2, 1, 3])

    # ----------------------------------------------------------------- layers
    def attention(self, i: int, x: str, cos: str, sin: str, mask: str) -> str:
        s, g = self.s, self.g
        scope, prefix = f"/model/layers.{i}/self_attn", f"model.layers.{i}.self_attn"
        q_rows, kv_rows = s.heads * s.head_dim, s.kv_heads * s.head_dim
        if s.fused_projections:
            q = self.linear(x, f"{prefix}.qkv_proj", scope, slice(0, q_rows))
            k = self.linear(x, f"{prefix}.qkv_proj", scope, slice(q_rows, q_rows + kv_rows))
            v = self.linear(x, f"{prefix}.qkv_proj", scope,
                            slice(q_rows + kv_rows, q_rows + 2 * kv_rows))
        else:
            q, k, v = (self.linear(x, f"{prefix}.{p}_proj", scope) for p in "qkv")
        norms = (f"{prefix}.q_norm.weight", f"{prefix}.k_norm.weight") if s.qk_norm else (None,) * 2
        q = self.rope(self.heads_first(q, s.heads, scope, norms[0]), cos, sin, scope)
        k = self.rope(self.heads_first(k, s.kv_heads, scope, norms[1]), cos, sin, scope)
        v = self.heads_first(v, s.kv_heads, scope)
        present_k = g.op("Concat", [f"past_key_values.{i}.key", k], scope, axis=2,
                         out=[f"present.{i}.key"])[0]
        present_v = g.op("Concat", [f"past_key_values.{i}.value", v], scope, axis=2,
                         out=[f"present.{i}.value"])[0]
        keys, values = self.repeat_kv(present_k, scope), self.repeat_kv(present_v, scope)
        # The scale on Q alone (and 1 on Kᵀ): the fused node's scale is then exactly it.
        q_scaled = g.one("Mul", [q, g.const(1.0 / math.sqrt(s.head_dim), np.float32)], scope)
        k_t = g.one("Mul", [g.one("Transpose", [keys], scope, perm=[0, 1, 3, 2]),
                            g.const(1.0, np.float32)], scope)
        scores = g.one("MatMul", [q_scaled, k_t], scope)
        probs = g.one("Softmax", [g.one("Add", [scores, mask], scope)], scope, axis=-1)
        clean = g.one("Where", [g.one("IsNaN", [probs], scope), g.const(0.0, np.float32), probs],
                      scope)
        ctx = g.one("MatMul", [clean, values], scope)
        ctx = g.one("Reshape", [g.one("Transpose", [ctx], scope, perm=[0, 2, 1, 3]),
                                g.const([0, 0, s.heads * s.head_dim])], scope)
        return self.linear(ctx, f"{prefix}.o_proj", scope)

    def mlp(self, i: int, x: str) -> str:
        s, g = self.s, self.g
        scope, prefix = f"/model/layers.{i}/mlp", f"model.layers.{i}.mlp"
        if s.fused_projections:
            inter = self.r.shape(f"{prefix}.gate_up_proj.weight")[0] // 2
            gate = self.linear(x, f"{prefix}.gate_up_proj", scope, slice(0, inter))
            up = self.linear(x, f"{prefix}.gate_up_proj", scope, slice(inter, 2 * inter))
        else:
            gate = self.linear(x, f"{prefix}.gate_proj", scope)
            up = self.linear(x, f"{prefix}.up_proj", scope)
        act = g.one("Mul", [gate, g.one("Sigmoid", [gate], f"{scope}/act_fn")], f"{scope}/act_fn")
        return self.linear(g.one("Mul", [act, up], scope), f"{prefix}.down_proj", scope)

    def build(self):
        """The ModelProto (weights already in the data file, by reference)."""
        from onnx import TensorProto, helper
        s, g = self.s, self.g
        embed = g.weight("model.embed_tokens.weight", self.r.read("model.embed_tokens.weight"))
        h = g.one("Gather", [embed, "input_ids"], "/model/embed_tokens", axis=0)
        cos, sin = self.rotary()
        masks = self.masks()
        biases = {w: g.one("Where", [m, g.const(0.0, np.float32),
                                     g.const(-np.inf, np.float32)], "/model/mask")
                  for w, m in masks.items()}
        for i in range(s.layers):
            scope, prefix = f"/model/layers.{i}", f"model.layers.{i}"
            normed = self.rms_norm(h, f"{prefix}.input_layernorm.weight",
                                   f"{scope}/input_layernorm")
            h = g.one("Add", [h, self.attention(i, normed, cos, sin, biases[s.windows[i]])], scope)
            normed = self.rms_norm(h, f"{prefix}.post_attention_layernorm.weight",
                                   f"{scope}/post_attention_layernorm")
            h = g.one("Add", [h, self.mlp(i, normed)], scope)
        h = self.rms_norm(h, "model.norm.weight", "/model/norm")
        head_source = "model.embed_tokens.weight" if s.tied else "lm_head.weight"
        w = self.r.read(head_source)
        head = g.weight("lm_head.weight", np.ascontiguousarray(w.T))
        del w
        g.op("MatMul", [h, head], "/lm_head", name="MatMul", out=["logits"])

        kv = ["batch_size", s.kv_heads, "past_sequence_length", s.head_dim]
        kv_out = ["batch_size", s.kv_heads, "past_sequence_length + sequence_length", s.head_dim]
        inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                                ["batch_size", "sequence_length"]),
                  helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                                ["batch_size",
                                                 "past_sequence_length + sequence_length"]),
                  helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                                ["batch_size", "sequence_length"])]
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                 ["batch_size", "sequence_length", s.vocab])]
        for i in range(s.layers):
            for kind in ("key", "value"):
                inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}",
                                                            TensorProto.FLOAT, kv))
                outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}",
                                                             TensorProto.FLOAT, kv_out))
        graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, g.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=EXPORTER_NAME, producer_version=EXPORTER_VERSION)
        model.ir_version = IR_VERSION
        return model


def export_direct(hf_dir: Path, out_dir: Path) -> DecoderShape:
    """Write model.onnx + model.onnx_data (+ config, generation config, tokenizer files) to
    `out_dir` from the HF folder `hf_dir`; returns the shape it exported."""
    import onnx

    from engine.models.importer import TOKENIZER_FILES
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    reader = WeightReader(hf_dir)
    shape = read_shape(hf_dir, reader)
    with DataFile(out_dir / DATA_FILE) as data:
        model = _DecoderGraph(shape, reader, data).build()
    onnx.save_model(model, str(out_dir / "model.onnx"))
    for name in ("config.json", *TOKENIZER_FILES):
        if (hf_dir / name).is_file() and not (out_dir / name).is_file():
            shutil.copy2(hf_dir / name, out_dir / name)
    return shape
