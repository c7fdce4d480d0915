"""Decoding with the KV cache left where the session runs (onnxruntime IO binding).

Handing numpy arrays to `session.run` means that on CUDA the whole cache crosses
the bus twice at every generated token: in as the past, out as the present. For
an 8B model at 2k tokens that is hundreds of MB per token, more than the step's
arithmetic. With IO binding the present of one step is an OrtValue on the
device and is bound, as it is, as the past of the next; only the new token ids,
the mask and the positions go in (a few bytes a row), and only the last
position's logits come back to the host, where the next token is picked.

A sequence that stops leaves the batch by a Gather on the device (one small
graph per model, run on the same provider), never through the host. The prefill
still returns host arrays (a shared prefix is repeated and pads are placed on
the host), so a batch's cache is copied to the device once, not once per token.

The same code runs with the device "cpu", which is how it is tested on machines
without a GPU: every result equals the host path's bit for bit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from engine.models.providers import CPU, CUDA

if TYPE_CHECKING:
    import onnxruntime

# onnxruntime's device names for the providers SafeVet runs on.
DEVICE_OF_PROVIDER: dict[str, str] = {CUDA: "cuda", CPU: "cpu"}
_ONNX_OPSET = 13


def device_of(execution_provider: str) -> str:
    """The OrtValue device type of a provider ("cuda", "cpu")."""
    return DEVICE_OF_PROVIDER.get(execution_provider, "cpu")


class DeviceKvCache:
    """The decode step and row selection of one model, with the cache on `device`."""

    def __init__(self, session: "onnxruntime.InferenceSession", past_names: Sequence[str],
                 present_names: Sequence[str], has_position_ids: bool, kv_dtype: np.dtype,
                 device: str, device_id: int = 0) -> None:
        self.session = session
        self.past_names = list(past_names)
        self.present_names = list(present_names)
        self.has_position_ids = has_position_ids
        self.device, self.device_id = device, device_id
        self._gather = _row_gather_session(len(self.past_names), np.dtype(kv_dtype),
                                           session.get_providers())

    def describe(self) -> str:
        """How the cache is kept, for the session record."""
        return f"device ({self.device}, IO binding)"

    # -- the cache ---------------------------------------------------------------
    def adopt(self, past: list[np.ndarray]) -> list["onnxruntime.OrtValue"]:
        """A host cache (from the prefill) moved to the device once."""
        import onnxruntime as ort
        return [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(t), self.device,
                                                 self.device_id) for t in past]

    def keep_rows(self, past: list["onnxruntime.OrtValue"], rows: list[int]
                  ) -> list["onnxruntime.OrtValue"]:
        """The cache of the sequences still decoding (`rows`, in order), on the device."""
        binding = self._gather.io_binding()
        binding.bind_cpu_input("rows", np.asarray(rows, np.int64))
        for i, value in enumerate(past):
            binding.bind_ortvalue_input(f"past_{i}", value)
            binding.bind_output(f"kept_{i}", self.device, self.device_id)
        self._gather.run_with_iobinding(binding)
        return list(binding.get_outputs())

    # -- one decode step -----------------------------------------------------------
    def step(self, input_ids: np.ndarray, attention_mask: np.ndarray,
             position_ids: np.ndarray, past: list["onnxruntime.OrtValue"]
             ) -> tuple[np.ndarray, list["onnxruntime.OrtValue"]]:
        """Logits on the host and the grown cache on the device (batch_decode's Step)."""
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", np.ascontiguousarray(input_ids, np.int64))
        binding.bind_cpu_input("attention_mask",
                               np.ascontiguousarray(attention_mask, np.int64))
        if self.has_position_ids:
            binding.bind_cpu_input("position_ids",
                                   np.ascontiguousarray(position_ids, np.int64))
        for name, value in zip(self.past_names, past):
            binding.bind_ortvalue_input(name, value)
        binding.bind_output("logits", "cpu")
        for name in self.present_names:
            binding.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        outputs = binding.get_outputs()
        return outputs[0].numpy().astype(np.float32, copy=False), list(outputs[1:])


def _row_gather_session(n: int, dtype: np.dtype, providers: list[str]
                        ) -> "onnxruntime.InferenceSession":
    """A graph taking `n` caches and row indices, giving each cache's rows (axis 0)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    dims = ["batch", "heads", "tokens", "head_dim"]
    inputs = [helper.make_tensor_value_info("rows", TensorProto.INT64, ["kept"])]
    outputs, nodes = [], []
    for i in range(n):
        inputs.append(helper.make_tensor_value_info(f"past_{i}", elem, dims))
        outputs.append(helper.make_tensor_value_info(
            f"kept_{i}", elem, ["kept", "heads", "tokens", "head_dim"]))
        nodes.append(helper.make_node("Gather", [f"past_{i}", "rows"], [f"kept_{i}"], axis=0))
    graph = helper.make_graph(nodes, "keep_rows", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _ONNX_OPSET)])
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=providers)
