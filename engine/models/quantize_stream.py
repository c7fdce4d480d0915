"""Weight-only quantisation of a graph whose weights live in external data, one MatMul at a time.

engine.models.quantize hands onnxruntime's MatMulNBitsQuantizer a fully loaded model:
for a model exported with external data (every model over 2 GB) that is all the fp32
weights in memory plus the quantised ones, and then the serialised copy when saving,
which is what a big model cannot afford. Here the graph is parsed with its weights left
on disk, and the quantizer's own per-node code (`node_quantizer.quantize`, the same
C++ block quantiser and the same recipe) is run on one MatMul at a time, with only that
MatMul's weight loaded (in a scratch graph of its own, see below); the packed weight and
scales it makes are appended to the new data file at once and dropped from memory. Weights left in fp32 (the LM head, the
embedding, norms) are copied across byte for byte. Peak memory is about one fp32
weight matrix. The bytes equal the in-memory path's (tests/test_direct_export.py).
"""
from __future__ import annotations

from pathlib import Path

from engine.models.graph_builder import DataFile


def _external(tensor) -> bool:
    from onnx import TensorProto
    return tensor.data_location == TensorProto.EXTERNAL


def _reference(tensor) -> tuple[str, int, int]:
    info = {e.key: e.value for e in tensor.external_data}
    return info["location"], int(info.get("offset", 0)), int(info.get("length", -1))


def _checked_path(base: Path, location: str, tensor) -> Path:
    from engine.models.external_data import data_file
    return data_file(base, location, tensor.name, base / "model.onnx")


def _inline_node_constants(graph, base: Path) -> None:
    """Constant nodes' values kept in external data (optimum moves some out) come inside."""
    from onnx import TensorProto
    from onnx.external_data_helper import load_external_data_for_tensor
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t") and _external(attr.t):
                _checked_path(base, _reference(attr.t)[0], attr.t)
                load_external_data_for_tensor(attr.t, str(base))
                attr.t.data_location = TensorProto.DEFAULT
                del attr.t.external_data[:]


def _copy_across(tensor, base: Path, sink: DataFile) -> None:
    """Append an external tensor's bytes to `sink` and point it there."""
    location, offset, length = _reference(tensor)
    path = _checked_path(base, location, tensor)
    if length < 0:
        length = path.stat().st_size - offset
    sink.copy_range(tensor, path, offset, length)


def quantize_streaming(src: Path, dst: Path, quantizer_class, recipe,
                       excluded: list[str]) -> int:
    """Write the quantised copy of `src` (external data) to `dst` + `dst`_data; returns how
    many MatMuls became MatMulNBits."""
    import onnx
    from onnx import numpy_helper

    src, dst = Path(src), Path(dst)
    base = src.parent
    model = onnx.load(str(src), load_external_data=False)
    graph = model.graph
    _inline_node_constants(graph, base)
    external = {t.name: t for t in graph.initializer if _external(t)}
    kept = [t for t in graph.initializer if not _external(t)]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    quantizer = quantizer_class(model, bits=recipe.bits, block_size=recipe.block_size,
                                is_symmetric=recipe.symmetric,
                                accuracy_level=recipe.accuracy_level,
                                nodes_to_exclude=excluded)
    quantizer.model.set_opset_import("com.microsoft", 1)   # as its process() does
    targets = quantizer.algo_config.op_types_to_quantize
    skip = set(excluded)
    new_nodes, quantized = [], 0
    with DataFile(dst.parent / (dst.name + "_data")) as sink:
        for node in list(graph.node):
            weight = node.input[1] if len(node.input) > 1 else None
            if (node.op_type not in targets or node.name in skip or weight not in external):
                new_nodes.append(node)
                continue
            # The weight goes into a graph of its own, never into `model`: protobuf keeps a
            # message's tensors in one arena, which a deleted element does not shrink, so
            # every fp32 weight appended there would stay in memory to the end.
            scratch = onnx.GraphProto()
            scratch.initializer.append(numpy_helper.from_array(
                numpy_helper.to_array(external[weight], base_dir=str(base)), weight))
            out = quantizer.node_quantizer.quantize(node, [scratch])
            for tensor in scratch.initializer[1:]:      # packed weight, scales (zero points)
                graph.initializer.append(sink.add_bytes(tensor, tensor.raw_data))
            del scratch
            quantized += sum(1 for n in out if n.op_type == "MatMulNBits")
            new_nodes.extend(out)
        graph.ClearField("node")
        graph.node.extend(new_nodes)
        used = {name for n in graph.node for name in n.input}
        for name, tensor in external.items():
            if name in used:
                _copy_across(tensor, base, sink)
                graph.initializer.append(tensor)
    onnx.save_model(model, str(dst))
    return quantized
