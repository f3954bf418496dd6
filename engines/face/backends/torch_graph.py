"""The shipped ONNX graph, run as PyTorch operations on any device: the CUDA backend's model.

Reading the graph (not the training code's module) keeps one source of truth, the file `tools.export_onnx`
writes, whatever architecture it was trained with. Only the operators a TensorRT-friendly network of this kind
uses are known (tests/test_face_operators.py holds the model to them); any other is refused when the graph is
loaded, never while serving.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

Op = Callable[[Sequence[torch.Tensor], dict[str, Any]], torch.Tensor]


def _conv(x: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    pads = a.get("pads", [0, 0] * (x[1].dim() - 2))
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        raise ValueError(f"asymmetric Conv padding {pads} is not supported")
    convolve = {3: F.conv1d, 4: F.conv2d}[x[1].dim()]
    bias = x[2] if len(x) > 2 else None
    return convolve(x[0], x[1], bias, a.get("strides", 1), pads[:half], a.get("dilations", 1), a.get("group", 1))


def _gemm(x: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    left = x[0].t() if a.get("transA", 0) else x[0]
    right = x[1].t() if a.get("transB", 0) else x[1]
    out = a.get("alpha", 1.0) * (left @ right)
    return out + a.get("beta", 1.0) * x[2] if len(x) > 2 else out


def _reduce_mean(x: Sequence[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    axes = a["axes"] if "axes" in a else [int(v) for v in x[1].tolist()]  # opset 18 moved axes to an input
    return x[0].mean(dim=tuple(axes), keepdim=bool(a.get("keepdims", 1)))


OPS: dict[str, Op] = {
    "Add": lambda x, a: x[0] + x[1],
    "Sub": lambda x, a: x[0] - x[1],
    "Mul": lambda x, a: x[0] * x[1],
    "Div": lambda x, a: x[0] / x[1],
    "MatMul": lambda x, a: x[0] @ x[1],
    "Relu": lambda x, a: torch.relu(x[0]),
    "Sigmoid": lambda x, a: torch.sigmoid(x[0]),
    "Tanh": lambda x, a: torch.tanh(x[0]),
    "Identity": lambda x, a: x[0],
    "Transpose": lambda x, a: x[0].permute(*a["perm"]),
    "Concat": lambda x, a: torch.cat(list(x), dim=a["axis"]),
    "Flatten": lambda x, a: x[0].flatten(start_dim=a.get("axis", 1)),
    "ReduceMean": _reduce_mean,
    "Conv": _conv,
    "Gemm": _gemm,
}


class OnnxGraphModule(torch.nn.Module):
    """(batch, ...) input -> the graph's one output. Initializers become buffers, so `.to(device, dtype)` moves
    and casts the whole network."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        unknown = sorted({node.op_type for node in graph.node} - set(OPS))
        if unknown:
            raise ValueError(f"operators not supported by the PyTorch backend: {', '.join(unknown)}")
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise ValueError("the audio-to-face graph must have one input and one output")
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self._buffer_names: dict[str, str] = {}
        for index, tensor in enumerate(graph.initializer):
            name = f"w{index}"
            self.register_buffer(name, torch.from_numpy(np.array(numpy_helper.to_array(tensor))))
            self._buffer_names[tensor.name] = name
        self._nodes = [
            (node.op_type, list(node.input), list(node.output),
             {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute})
            for node in graph.node
        ]

    @classmethod
    def load(cls, path: Path) -> OnnxGraphModule:
        return cls(onnx.load(str(path)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for onnx_name, buffer_name in self._buffer_names.items():
            values[onnx_name] = getattr(self, buffer_name)
        for op_type, inputs, outputs, attributes in self._nodes:
            values[outputs[0]] = OPS[op_type]([values[name] for name in inputs if name], attributes)
        return values[self.output_name]
