"""The shipped network stays within what TensorRT 10's ONNX parser builds (and what the PyTorch backend runs):
checked on the graph itself, since no TensorRT runs in this project's CI.

The operator set is the part of the ONNX-TensorRT support matrix for TensorRT 10 (onnx/onnx-tensorrt,
docs/operators.md: opsets 9 to 20) that a network of this kind uses, with that matrix's restrictions on them."""
from __future__ import annotations

import onnx

from engines.face.backends.base import DEFAULT_MODEL
from engines.face.backends.torch_graph import OPS

TENSORRT_10_OPS = {
    "Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Conv", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
    "Identity", "Transpose", "Reshape", "Flatten", "Concat", "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum",
    "BatchNormalization", "LayerNormalization", "Clip", "Pad", "Slice", "Constant",
}
OPSETS = range(9, 21)


def test_graph_uses_only_operators_tensorrt_10_builds():
    model = onnx.load(str(DEFAULT_MODEL))
    onnx.checker.check_model(model)
    used = {node.op_type for node in model.graph.node}
    assert used <= TENSORRT_10_OPS, sorted(used - TENSORRT_10_OPS)
    assert used <= set(OPS), sorted(used - set(OPS))  # and the PyTorch backend runs each of them
    assert all(opset.version in OPSETS for opset in model.opset_import if opset.domain in ("", "ai.onnx"))


def test_tensorrt_restrictions_hold():
    model = onnx.load(str(DEFAULT_MODEL))
    initializers = {tensor.name for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Conv":  # weights must be initializers; 1D to 3D kernels
            assert node.input[1] in initializers, node.name
            kernel = next(a for a in node.attribute if a.name == "kernel_shape").ints
            assert 1 <= len(kernel) <= 3
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param, "the batch axis must be dynamic for the optimisation profile"
