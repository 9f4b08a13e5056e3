"""The tiny ONNX models of hub.testing.onnx_models, run with onnxruntime."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hub.testing.onnx_models import (
    OPSET,
    build_threshold_segmenter,
    mean_classifier,
    threshold_segmenter,
    write_model,
)


def run(path, **inputs: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def test_threshold_segmenter_labels_by_intensity(tmp_path) -> None:
    path = tmp_path / "seg.onnx"
    digest = threshold_segmenter(path, threshold=10.0, labels=2)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    x = np.array([-5, 0, 5, 10.5, 15, 20.5, 40], dtype=np.float32).reshape(1, 1, 1, 7)
    (logits,) = run(path, image=x)
    assert logits.shape == (1, 3, 1, 7)
    assert logits.argmax(1).ravel().tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_threshold_segmenter_options_and_3d(tmp_path) -> None:
    path = tmp_path / "seg3d.onnx"
    threshold_segmenter(path, 1.0, labels=1, input_name="ct", shape=(1, 1, None, None, None))
    (logits,) = run(path, ct=np.full((1, 1, 2, 3, 4), 2.0, np.float32))
    assert logits.shape == (1, 2, 2, 3, 4) and (logits.argmax(1) == 1).all()
    graph_input = onnx.load(str(path)).graph.input[0]
    assert graph_input.name == "ct"


def test_float16_input_is_cast(tmp_path) -> None:
    path = tmp_path / "half.onnx"
    threshold_segmenter(path, 1.0, labels=1, dtype="float16")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    (logits,) = run(path, image=np.full((2, 1, 3, 3), 2.0, np.float16))
    assert (logits.argmax(1) == 1).all()


def test_mean_classifier_probability(tmp_path) -> None:
    path = tmp_path / "cls.onnx"
    mean_classifier(path, threshold=1.0, scale=2.0)
    x = np.stack([np.zeros((1, 4, 4)), np.full((1, 4, 4), 3.0)]).astype(np.float32)
    (probability,) = run(path, image=x)
    assert probability.shape == (2,)
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-np.array([-2.0, 4.0]))), rtol=1e-6)


def test_models_use_opset_17_and_pass_the_checker(tmp_path) -> None:
    model = build_threshold_segmenter()
    assert model.opset_import[0].version == OPSET == 17
    digest = write_model(model, tmp_path / "sub" / "m.onnx")
    assert len(digest) == 64
    onnx.checker.check_model(onnx.load(str(tmp_path / "sub" / "m.onnx")))


def test_bad_threshold_is_refused() -> None:
    with pytest.raises(ValueError):
        build_threshold_segmenter(0.0)
