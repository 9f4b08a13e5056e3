"""ct-lung-seg: manifest, model file, and the model on a chest-CT phantom written as DICOM."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from ct_lung_seg import plugin
from ct_lung_seg.plugin import CtLungSeg

from hub.inference import load_series, run_model
from hub.sdk import CODES, Result, Series, sha256_of
from hub.testing import assert_plugin_valid
from hub.testing.dicom import write_series
from hub.testing.phantoms import LEFT_LUNG, RIGHT_LUNG, chest_ct_phantom

MODEL_PATH = Path(plugin.__file__).parent / CtLungSeg.manifest.model_file
SPACING = (5.0, 1.4, 1.4)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks."""
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Series, np.ndarray]:
    """A 48 x 256 x 256 chest phantom (1.4 mm pixels), written as DICOM and loaded back."""
    hu, labels = chest_ct_phantom(48, 256, 256, SPACING, seed=4242)
    folder = tmp_path_factory.mktemp("ct")
    write_series(hu, folder, spacing=SPACING, order="shuffled", body_part="CHEST", seed="lung")
    return load_series([folder]), labels


def check_result(result: Result, series: Series, labels: np.ndarray) -> None:
    """Dice >= 0.9 per lung, volumes = voxel counts x voxel volume, right lung on the right."""
    labelmap = result.labelmap
    assert labelmap is not None and labelmap.dtype == np.uint8
    assert labelmap.shape == labels.shape
    for label in (RIGHT_LUNG, LEFT_LUNG):
        assert dice(labelmap == label, labels == label) >= 0.9
    for key, label in (("right_lung_volume", RIGHT_LUNG), ("left_lung_volume", LEFT_LUNG)):
        expected = np.count_nonzero(labelmap == label) * series.voxel_volume_ml
        assert result.measurements[key] == pytest.approx(expected)
        assert 500 < result.measurements[key] < 5000  # ml: an adult lung's order of size
    # Patient coordinates (LPS): the right lung's centre lies at smaller x than the left's.
    row_dir = np.asarray(series.orientation[:3])
    x_of = [
        float(np.nonzero(labelmap == label)[2].mean() * series.spacing[2] * row_dir[0])
        for label in (RIGHT_LUNG, LEFT_LUNG)
    ]
    assert x_of[0] < x_of[1]


def test_manifest() -> None:
    manifest = CtLungSeg.manifest
    assert manifest.name == "ct-lung-seg" and manifest.modalities == ("CT",)
    assert [s.laterality for s in manifest.segments] == [CODES["right"], CODES["left"]]
    assert {m.key: m.segment_label for m in manifest.measurements} == {
        "right_lung_volume": 1,
        "left_lung_volume": 2,
    }
    assert [type(m).__name__ for m in plugin.hub_models()] == ["CtLungSeg"]


def test_model_file_matches_sha256() -> None:
    assert MODEL_PATH.is_file()
    assert sha256_of(str(MODEL_PATH)) == CtLungSeg.manifest.sha256


def test_entry_point_is_registered() -> None:
    points = importlib.metadata.entry_points(group="pacs_hub")
    assert any(p.name == "ct-lung-seg" and p.value == "ct_lung_seg.plugin" for p in points)


def test_preprocess_pads_to_multiple_of_16(phantom_series: tuple[Series, np.ndarray]) -> None:
    series, _ = phantom_series
    series = Series(**{**vars(series), "volume": series.volume[:, :250, :243]})
    image = CtLungSeg().preprocess(series)["image"]
    assert image.shape == (48, 1, 256, 256) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert not image[:, :, 250:].any() and not image[:, :, :, 243:].any()


def test_segments_phantom_with_onnxruntime(phantom_series: tuple[Series, np.ndarray]) -> None:
    series, labels = phantom_series
    model = CtLungSeg()
    session = ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], model.preprocess(series))
    check_result(model.postprocess({"logits": logits}, series), series, labels)


def test_mirrored_orientation_keeps_sides(phantom_series: tuple[Series, np.ndarray]) -> None:
    series, labels = phantom_series
    # The same anatomy stored with columns running to the patient's right.
    mirrored = Series(**{
        **vars(series),
        "volume": series.volume[:, :, ::-1].copy(),
        "orientation": (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    })
    model = CtLungSeg()
    session = ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], model.preprocess(mirrored))
    labelmap = model.postprocess({"logits": logits}, mirrored).labelmap
    assert labelmap is not None
    assert dice(labelmap[:, :, ::-1] == RIGHT_LUNG, labels == RIGHT_LUNG) >= 0.9


def test_plugin_valid_and_runs_in_hub(phantom_series: tuple[Series, np.ndarray]) -> None:
    series, labels = phantom_series
    (model,) = assert_plugin_valid(plugin)
    outcome = run_model(model, series)
    check_result(outcome.result, series, labels)
    assert outcome.timings["session_run"] > 0
