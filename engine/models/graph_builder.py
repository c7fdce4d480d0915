"""Build an ONNX graph node by node, its weights streamed to one external data file.

Two small tools for engine.models.direct_export (and the streaming quantiser):
`DataFile` appends each weight's bytes to `model.onnx_data` as soon as it is made, and
returns a TensorProto that only *refers* to them (location, offset, length), so the
graph under construction stays kilobytes whatever the model's size; `GraphBuilder`
names nodes and their outputs the way optimum's exports do (`/model/layers.0/...`),
which is what the later graph edits (engine.models.scoring_graph's head search, the
quantiser's `lm_head` exclusion) look for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

# Each tensor starts on a page boundary, so onnxruntime may map it instead of copying.
ALIGNMENT = 4096
# Tensors at most this size stay inside model.onnx (shape vectors, scalars).
INLINE_BYTES = 1024
COPY_CHUNK = 64 * 2**20


class DataFile:
    """`model.onnx_data` being written: append a tensor, get back its external reference."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = open(self.path, "wb")
        self.offset = 0

    def add(self, name: str, array: np.ndarray):
        """Write `array`'s bytes (C order, its dtype) and return a TensorProto pointing at them."""
        from onnx import TensorProto, helper
        array = np.ascontiguousarray(array)
        self._align()
        self._fh.write(memoryview(array).cast("B"))
        tensor = TensorProto(name=name, dims=list(array.shape),
                             data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        self.refer(tensor, self.offset, array.nbytes)
        self.offset += array.nbytes
        return tensor

    def add_bytes(self, tensor, data: bytes | memoryview):
        """Write the bytes of an existing TensorProto (already in raw ONNX layout); return a
        new TensorProto of the same name, type and shape that refers to them (the original,
        data and all, is left to its owner to drop)."""
        from onnx import TensorProto
        self._align()
        self._fh.write(data)
        ref = TensorProto(name=tensor.name, dims=list(tensor.dims), data_type=tensor.data_type)
        self.refer(ref, self.offset, len(data))
        self.offset += len(data)
        return ref

    def copy_range(self, tensor, path: Path, offset: int, length: int) -> None:
        """Append `length` bytes of `path` from `offset` (another data file's tensor), in
        chunks, and make `tensor` refer to them."""
        self._align()
        start = self.offset
        with open(path, "rb") as fh:
            fh.seek(offset)
            left = length
            while left:
                chunk = fh.read(min(left, COPY_CHUNK))
                if not chunk:
                    raise OSError(f"{path}: truncated at tensor {tensor.name}")
                self._fh.write(chunk)
                left -= len(chunk)
        self.offset += length
        self.refer(tensor, start, length)

    def _align(self) -> None:
        pad = -self.offset % ALIGNMENT
        if pad:
            self._fh.write(b"\0" * pad)
            self.offset += pad

    def refer(self, tensor, offset: int, length: int) -> None:
        from onnx import TensorProto
        del tensor.external_data[:]
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.path.name), ("offset", str(offset)),
                           ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "DataFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class GraphBuilder:
    """Nodes and initializers of one graph, with optimum-style names."""

    data: DataFile
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _constants: dict[tuple, str] = field(default_factory=dict)

    def op(self, op_type: str, inputs: list[str], scope: str, outputs: int = 1,
           name: str | None = None, out: list[str] | None = None, **attrs) -> list[str]:
        """Add one node in `scope` (e.g. "/model/layers.0/self_attn"), named `name` or its op
        type, numbered from the second of that name on; returns its outputs."""
        from onnx import helper
        base = f"{scope}/{name or op_type}"
        k = self._counts.get(base, 0)
        self._counts[base] = k + 1
        name = base + (f"_{k}" if k else "")
        out = out or [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, out, name=name, **attrs))
        return out

    def one(self, op_type: str, inputs: list[str], scope: str, **attrs) -> str:
        return self.op(op_type, inputs, scope, **attrs)[0]

    def const(self, value, dtype=np.int64) -> str:
        """A small constant initializer, shared by every node that asks for the same value."""
        from onnx import numpy_helper
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        name = self._constants.get(key)
        if name is None:
            name = f"/safevet/const_{len(self._constants)}"
            self._constants[key] = name
            self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, name: str, array: np.ndarray) -> str:
        """A model weight: written to the data file now (inline only if tiny)."""
        from onnx import numpy_helper
        if array.nbytes <= INLINE_BYTES:
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        else:
            self.initializers.append(self.data.add(name, array))
        return name
