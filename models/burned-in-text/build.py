"""Build burned-in-text-1.0.0.onnx: a hand-written heuristic expressed as an ONNX graph.

No training and no learned weights: the graph scores how much of the top and bottom bands of
an image is covered by thin, near-saturated strokes (what burned-in text and overlay
graphics look like), then maps that fraction through a logistic. See MODEL_CARD.md.

    python models/burned-in-text/build.py        # rewrites the .onnx next to this script

Input ``image`` float32 ``[N, 1, H, W]``: pixel values divided by the largest storable value
(``2**BitsStored - 1``), so burned-in text drawn at full white is ~1.0. Outputs, each ``[N]``:
``stroke_fraction`` (the feature) and ``probability`` (the logistic of it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VERSION = "1.0.0"
OUT = Path(__file__).resolve().parent / f"burned-in-text-{VERSION}.onnx"

BAND = 0.15  # top and bottom bands: this fraction of the rows each
SATURATION = 0.9  # "near-saturated": above 90 % of the largest storable value
SHARPNESS = 60.0  # slope of the soft saturation threshold
WINDOW = 7  # neighbourhood (pixels) that tells thin strokes from solid bright areas
CONNECTED = 0.2  # 3x3 brightness above which a pixel has bright neighbours (is not isolated)
SOLIDITY = 2.0  # stroke = bright - SOLIDITY * mean brightness of the neighbourhood
THRESHOLD = 0.0004  # stroke fraction at which the probability is 0.5
SLOPE = 8000.0  # logistic slope: fraction 0 -> 0.04, 0.001 -> 0.99


def _const(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def build() -> onnx.ModelProto:
    """The graph (opset 17, IR 8), checked."""
    node = helper.make_node
    nodes = [
        # Row position of every pixel as a fraction of the height, without knowing H upfront.
        node("Mul", ["image", "zero"], ["zeros"]),
        node("Add", ["zeros", "one"], ["ones"]),
        node("CumSum", ["ones", "row_axis"], ["rows"]),
        node("ReduceMax", ["rows"], ["height"], axes=[2], keepdims=1),
        node("Div", ["rows", "height"], ["row_fraction"]),
        node("Less", ["row_fraction", "band_top"], ["in_top"]),
        node("Greater", ["row_fraction", "band_bottom"], ["in_bottom"]),
        node("Or", ["in_top", "in_bottom"], ["in_band"]),
        node("Cast", ["in_band"], ["band"], to=TensorProto.FLOAT),
        # Soft "near-saturated" mask, and its thin-stroke part.
        node("Sub", ["image", "saturation"], ["above"]),
        node("Mul", ["above", "sharpness"], ["above_scaled"]),
        node("Sigmoid", ["above_scaled"], ["bright"]),
        node(
            "AveragePool",
            ["bright"],
            ["local"],
            kernel_shape=[WINDOW, WINDOW],
            pads=[WINDOW // 2] * 4,
            count_include_pad=0,
        ),
        # Isolated bright pixels (noise, specular dots) are no strokes: a stroke pixel has
        # bright neighbours in its 3x3 neighbourhood.
        node("AveragePool", ["bright"], ["near"], kernel_shape=[3, 3], pads=[1] * 4),
        node("Sub", ["near", "connected"], ["near_centred"]),
        node("Mul", ["near_centred", "ten"], ["near_scaled"]),
        node("Clip", ["near_scaled", "zero", "one"], ["linked"]),
        node("Mul", ["bright", "linked"], ["bright_linked"]),
        node("Mul", ["local", "solidity"], ["solid"]),
        node("Sub", ["bright_linked", "solid"], ["stroke_raw"]),
        node("Relu", ["stroke_raw"], ["stroke"]),
        # Fraction of the band covered by strokes, then the logistic.
        node("Mul", ["stroke", "band"], ["stroke_in_band"]),
        node("ReduceSum", ["stroke_in_band", "image_axes"], ["stroke_sum"], keepdims=0),
        node("ReduceSum", ["band", "image_axes"], ["band_sum"], keepdims=0),
        node("Div", ["stroke_sum", "band_sum"], ["stroke_fraction"]),
        node("Sub", ["stroke_fraction", "threshold"], ["centred"]),
        node("Mul", ["centred", "slope"], ["logit"]),
        node("Sigmoid", ["logit"], ["probability"]),
    ]
    initializers = [
        _const("zero", 0.0),
        _const("one", 1.0),
        _const("ten", 10.0),
        _const("connected", CONNECTED),
        numpy_helper.from_array(np.array(2, dtype=np.int64), "row_axis"),
        numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "image_axes"),
        _const("band_top", BAND + 1e-6),
        _const("band_bottom", 1.0 - BAND),
        _const("saturation", SATURATION),
        _const("sharpness", SHARPNESS),
        _const("solidity", SOLIDITY),
        _const("threshold", THRESHOLD),
        _const("slope", SLOPE),
    ]
    graph = helper.make_graph(
        nodes,
        "burned_in_text",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("stroke_fraction", TensorProto.FLOAT, ["n"]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="pacs-ai-hub models/burned-in-text/build.py",
        producer_version=VERSION,
        doc_string="Burned-in text heuristic: thin near-saturated strokes in the top/bottom bands.",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    """Write the model next to this script and print its sha256 for the plugin manifest."""
    model = build()
    onnx.save_model(model, str(OUT))
    print(OUT.name, hashlib.sha256(OUT.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
