"""mr-brain-extract: geometry helpers on synthetic series, and deepbet on Colin27 (Dice >= 0.9)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
from mr_brain_extract import plugin
from mr_brain_extract.plugin import MrBrainExtract, from_ras, ras_axes, to_ras

from hub.inference import load_series, run_model
from hub.sdk import Series
from hub.testing import assert_plugin_valid
from hub.testing.dicom import oblique_orientation, write_series

TEMPLATES = Path("/usr/share/mricron/templates")
COLIN = TEMPLATES / "ch2.nii.gz"
COLIN_BRAIN = TEMPLATES / "ch2bet.nii.gz"
logger = logging.getLogger(__name__)


def synthetic_series(tmp_path: Path, orientation: tuple[float, ...]) -> Series:
    """A small MR series with distinct voxel values, written and loaded through DICOM."""
    volume = np.arange(6 * 7 * 8, dtype=np.float32).reshape(6, 7, 8)
    write_series(volume, tmp_path, modality="MR", orientation=orientation, spacing=(2, 1, 1.5))
    return load_series([tmp_path])


def test_plugin_is_valid() -> None:
    assert_plugin_valid(plugin)


def test_axial_series_maps_to_ras(tmp_path: Path) -> None:
    series = synthetic_series(tmp_path, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    # Axial LPS: slices go S, rows go P, columns go L; RAS order is (column, row, slice) flipped.
    assert ras_axes(series) == ([2, 1, 0], [True, True, False])
    ras = to_ras(series.volume, series)
    assert ras.shape == (8, 7, 6)
    assert ras[0, 0, 0] == series.volume[0, -1, -1]
    np.testing.assert_array_equal(from_ras(ras, series), series.volume)


@pytest.mark.parametrize(
    "orientation",
    [(0.0, 1.0, 0.0, 0.0, 0.0, -1.0), (1.0, 0.0, 0.0, 0.0, 0.0, -1.0), oblique_orientation()],
)
def test_reorientation_round_trips(tmp_path: Path, orientation: tuple[float, ...]) -> None:
    series = synthetic_series(tmp_path, orientation)
    axes, _ = ras_axes(series)
    assert sorted(axes) == [0, 1, 2]
    np.testing.assert_array_equal(from_ras(to_ras(series.volume, series), series), series.volume)


def test_postprocess_maps_box_back(tmp_path: Path) -> None:
    series = synthetic_series(tmp_path, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    probability = np.zeros((256, 256, 256), dtype=np.float32)
    probability[64:192, 64:192, 64:192] = 0.9  # the middle half of the box
    box = np.array([[0, 8], [0, 7], [2, 6]], dtype=np.int64)  # RAS shape is (8, 7, 6)
    result = MrBrainExtract().postprocess({"probability": probability, "box": box}, series)
    assert result.labelmap is not None and result.labelmap.shape == series.shape
    expected = np.zeros((8, 7, 6), dtype=np.uint8)
    expected[2:6, 2:5, 3:5] = 1
    np.testing.assert_array_equal(result.labelmap, from_ras(expected, series))
    assert result.measurements["brain_volume"] == pytest.approx(24 * 3.0 / 1000)


def colin_as_dicom(out_dir: Path) -> tuple[np.ndarray, Path]:
    """Write Colin27 (RAS NIfTI) as an axial LPS MR series; return its brain mask (RAS)."""
    nibabel = pytest.importorskip("nibabel")
    image = nibabel.as_closest_canonical(nibabel.load(COLIN))
    affine = image.affine
    assert np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))), "axis-aligned"
    zooms = np.diag(affine[:3, :3])
    data = np.asarray(image.dataobj, dtype=np.float32)  # data[x, y, z], x -> R, y -> A, z -> S
    # DICOM axial: columns run to the patient's left (-R), rows posterior (-A), slices superior.
    volume = data.transpose(2, 1, 0)[:, ::-1, ::-1]
    corner = np.array([data.shape[0] - 1, data.shape[1] - 1, 0, 1], dtype=float)
    origin = (affine @ corner)[:3] * np.array([-1.0, -1.0, 1.0])  # RAS -> LPS
    write_series(
        volume, out_dir, modality="MR", spacing=(zooms[2], zooms[1], zooms[0]),
        origin=tuple(origin), seed="colin27", series_description="Colin27 T1",
    )
    brain = nibabel.as_closest_canonical(nibabel.load(COLIN_BRAIN))
    assert np.allclose(brain.affine, affine)
    return np.asarray(brain.dataobj) > 0, out_dir


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks."""
    return 2.0 * float(np.logical_and(a, b).sum()) / float(a.sum() + b.sum())


@pytest.mark.slow
def test_colin27_dice(tmp_path: Path) -> None:
    if not (COLIN.is_file() and COLIN_BRAIN.is_file()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{COLIN} missing on CI: apt-get install mricron-data")
        pytest.skip(f"{COLIN} not found (Debian package mricron-data)")
    truth, folder = colin_as_dicom(tmp_path / "colin27")
    series = load_series([folder])
    (model,) = assert_plugin_valid(plugin)
    started = time.perf_counter()
    outcome = run_model(model, series)
    seconds = time.perf_counter() - started
    labelmap = outcome.result.labelmap
    assert labelmap is not None and labelmap.shape == series.shape
    assert labelmap.dtype == np.uint8 and set(np.unique(labelmap)) == {0, 1}
    # Back from DICOM voxel order (slice, row, column) to the NIfTI's (x, y, z).
    mask = labelmap[:, ::-1, ::-1].transpose(2, 1, 0).astype(bool)
    score = dice(mask, truth)
    volume_ml = outcome.result.measurements["brain_volume"]
    logger.info("Colin27 Dice %.4f, brain %.0f ml, run %.1f s", score, volume_ml, seconds)
    assert score >= 0.9, f"Dice {score:.4f} against ch2bet"
    assert volume_ml == pytest.approx(mask.sum() / 1000.0)
