"""Tiny ONNX models built with ``onnx.helper`` (no torch), for plugin tests and examples.

Each builder writes the model to ``path`` and returns its sha256, ready for the manifest::

    sha = threshold_segmenter(tmp_path / "model.onnx", threshold=100.0)

``build_*`` functions return the :class:`onnx.ModelProto` without writing it;
:func:`write_model` saves one and returns its sha256. Models use opset 17 and IR version 8,
which every supported onnxruntime loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hub.sdk import sha256_of

OPSET = 17
IR_VERSION = 8

Shape = Sequence[int | str | None]


def write_model(model: onnx.ModelProto, path: str | Path) -> str:
    """Check and save ``model`` to ``path`` (parents created); returns the file's sha256."""
    onnx.checker.check_model(model)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(target))
    return sha256_of(str(target))


def _input(name: str, shape: Shape, dtype: str) -> onnx.ValueInfoProto:
    elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    dims = [f"d{i}" if d is None else d for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, elem_type, dims)


def _model(nodes: list, inputs: list, outputs: list, inits: list, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hub.testing"
    )
    model.ir_version = IR_VERSION
    return model


def _as_float(input_name: str, dtype: str, nodes: list) -> str:
    """Cast the input to float32 when needed; returns the float32 tensor's name."""
    if dtype == "float32":
        return input_name
    nodes.append(helper.make_node("Cast", [input_name], ["x_f32"], to=TensorProto.FLOAT))
    return "x_f32"


def build_threshold_segmenter(
    threshold: float = 0.5,
    *,
    input_name: str = "image",
    output_name: str = "logits",
    shape: Shape = (None, 1, None, None),
    labels: int = 2,
    dtype: str = "float32",
) -> onnx.ModelProto:
    """A segmenter whose argmax over axis 1 is ``clip(floor(x / threshold), 0, labels)``.

    Input: ``shape`` (axis 1 is the channel axis, size 1), e.g. ``(None, 1, None, None)``
    for 2D slice batches. Output ``output_name``: float32 logits ``[N, labels + 1, ...]``; with
    ``labels=1`` voxels ``> threshold`` get label 1 (at a tie argmax picks the lower label).
    Logit ``k`` is ``k*x - t*k*(k+1)/2``.
    """
    if threshold <= 0 or labels < 1:
        raise ValueError("threshold must be > 0 and labels >= 1")
    rank = len(shape)
    broadcast = [1, labels + 1] + [1] * (rank - 2)
    ks = np.arange(labels + 1, dtype=np.float32)
    slopes = ks.reshape(broadcast)
    offsets = (threshold * ks * (ks + 1) / 2).astype(np.float32).reshape(broadcast)
    nodes: list = []
    x = _as_float(input_name, dtype, nodes)
    nodes += [
        helper.make_node("Mul", [x, "slopes"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "offsets"], [output_name]),
    ]
    out_dims = [f"o{i}" for i in range(rank)]
    out_dims[1] = labels + 1  # type: ignore[call-overload]
    return _model(
        nodes,
        [_input(input_name, shape, dtype)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_dims)],
        [
            numpy_helper.from_array(slopes, "slopes"),
            numpy_helper.from_array(offsets, "offsets"),
        ],
        "threshold_segmenter",
    )


def build_mean_classifier(
    threshold: float = 0.0,
    *,
    scale: float = 1.0,
    input_name: str = "image",
    output_name: str = "probability",
    shape: Shape = (None, 1, None, None),
    dtype: str = "float32",
) -> onnx.ModelProto:
    """A classifier: ``sigmoid((mean(x over all but axis 0) - threshold) * scale)``, shape [N]."""
    rank = len(shape)
    nodes: list = []
    x = _as_float(input_name, dtype, nodes)
    nodes += [
        helper.make_node("ReduceMean", [x], ["mean"], axes=list(range(1, rank)), keepdims=0),
        helper.make_node("Sub", ["mean", "threshold"], ["centred"]),
        helper.make_node("Mul", ["centred", "scale"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], [output_name]),
    ]
    return _model(
        nodes,
        [_input(input_name, shape, dtype)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["n"])],
        [
            numpy_helper.from_array(np.array(threshold, dtype=np.float32), "threshold"),
            numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale"),
        ],
        "mean_classifier",
    )


def threshold_segmenter(path: str | Path, threshold: float = 0.5, **options: object) -> str:
    """Write :func:`build_threshold_segmenter` to ``path``; returns its sha256."""
    return write_model(build_threshold_segmenter(threshold, **options), path)  # type: ignore[arg-type]


def mean_classifier(path: str | Path, threshold: float = 0.0, **options: object) -> str:
    """Write :func:`build_mean_classifier` to ``path``; returns its sha256."""
    return write_model(build_mean_classifier(threshold, **options), path)  # type: ignore[arg-type]
