"""The series loader: ordering by position, geometry, decoding and every refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files

from hub.errors import InputError
from hub.inference import load_series
from hub.testing.dicom import oblique_orientation, write_series


@pytest.fixture
def volume() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(-1000, 2000, size=(9, 12, 17)).astype(np.float32)


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled"])
def test_slices_sorted_by_position_not_instance_number(tmp_path, volume, order):
    write_series(volume, tmp_path, order=order, spacing=(2.5, 0.6, 0.8))
    series = load_series([tmp_path])
    np.testing.assert_array_equal(series.volume, volume)
    along = series.positions @ series.normal
    assert np.all(np.diff(along) > 0)
    assert series.spacing == pytest.approx((2.5, 0.6, 0.8))


def test_oblique_non_square_geometry_is_kept(tmp_path, volume):
    orientation = oblique_orientation(25)
    write_series(
        volume, tmp_path, order="shuffled", orientation=orientation, spacing=(1.7, 0.5, 0.9),
        origin=(-120.0, 30.0, 55.5),
    )
    series = load_series([tmp_path])
    np.testing.assert_array_equal(series.volume, volume)
    assert series.orientation == pytest.approx(orientation)
    assert series.spacing == pytest.approx((1.7, 0.5, 0.9), rel=1e-5)
    assert series.positions[0] == pytest.approx((-120.0, 30.0, 55.5), abs=1e-5)
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    assert series.normal == pytest.approx(np.cross(row, col))


def test_rescale_slope_and_intercept_applied(tmp_path):
    hu = np.arange(-1000, 1000, 10, dtype=np.float32).reshape(2, 10, 10)
    write_series(hu, tmp_path, rescale=(2.0, -1000.0))
    stored = pydicom.dcmread(sorted(tmp_path.iterdir())[0]).pixel_array
    assert stored.min() >= 0  # the file holds stored values, not HU
    np.testing.assert_array_equal(load_series([tmp_path]).volume, hu)


def test_multiframe_enhanced_frames_sorted(tmp_path, volume):
    write_series(volume, tmp_path, multiframe=True, order="shuffled", spacing=(3.0, 1.0, 1.0))
    series = load_series([tmp_path])
    np.testing.assert_array_equal(series.volume, volume)
    assert {ref.dataset_index for ref in series.slices} == {0}
    assert sorted(ref.frame_number for ref in series.slices) == list(range(1, 10))
    assert series.spacing[0] == pytest.approx(3.0)


@pytest.mark.parametrize("multiframe", [False, True])
def test_rle_compressed_decoded(tmp_path, volume, multiframe):
    write_series(volume, tmp_path, compress=True, multiframe=multiframe, modality="MR")
    assert pydicom.dcmread(next(tmp_path.iterdir())).file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_array_equal(load_series([tmp_path]).volume, volume)


@pytest.mark.parametrize(
    "compressed",
    ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm"],
)
def test_pydicom_compressed_files_match_uncompressed(compressed):
    reference = get_testdata_files("MR_small.dcm")[0]
    other = get_testdata_files(compressed)
    assert other, f"pydicom test file {compressed} not found"
    expected = load_series([reference]).volume
    np.testing.assert_array_equal(load_series([other[0]]).volume, expected)


def test_files_and_folders_mixed_without_double_counting(tmp_path, volume):
    paths = write_series(volume, tmp_path / "s")
    series = load_series([paths[0], paths[1], tmp_path / "s"])
    assert series.volume.shape[0] == 9
    np.testing.assert_array_equal(series.volume, volume)


def test_same_instance_in_two_files_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path / "s")
    (tmp_path / "copy.dcm").write_bytes(paths[0].read_bytes())
    assert "same SOPInstanceUID" in _error([tmp_path])


# --- refusals --------------------------------------------------------------------------


def _error(paths) -> str:
    with pytest.raises(InputError) as info:
        load_series(paths)
    assert info.value.fix, "every refusal names a fix"
    return info.value.cause


def test_non_dicom_file_refused(tmp_path, volume):
    write_series(volume, tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    assert "notes.txt is not a DICOM file" in _error([tmp_path])


def test_empty_folder_refused(tmp_path):
    assert "contains no files" in _error([tmp_path])


def test_missing_path_refused(tmp_path):
    assert "does not exist" in _error([tmp_path / "nope"])


def test_two_series_refused(tmp_path, volume):
    write_series(volume, tmp_path / "a", seed="a")
    write_series(volume, tmp_path / "b", seed="b")
    assert "holds 2 series" in _error([tmp_path])


def test_mixed_sizes_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    ds = pydicom.dcmread(paths[3])
    ds.Rows, ds.Columns = 17, 12
    ds.save_as(paths[3])
    assert "mixed image sizes" in _error([tmp_path])


def test_mixed_orientations_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(paths[2])
    assert "mixed orientations" in _error([tmp_path])


def test_duplicate_positions_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    ds = pydicom.dcmread(paths[4])
    ds.ImagePositionPatient = pydicom.dcmread(paths[5]).ImagePositionPatient
    ds.save_as(paths[4])
    assert "duplicate slice position" in _error([tmp_path])


def test_gap_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    paths[4].unlink()
    assert "not uniform" in _error([tmp_path])


def test_missing_pixel_data_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    ds = pydicom.dcmread(paths[0])
    del ds.PixelData
    ds.save_as(paths[0])
    assert "has no pixel data" in _error([tmp_path])


def test_truncated_pixel_data_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path)
    data = Path(paths[6]).read_bytes()
    Path(paths[6]).write_bytes(data[:-100])
    cause = _error([tmp_path])
    assert "IM00007.dcm" in cause


def test_truncated_compressed_pixel_data_refused(tmp_path, volume):
    paths = write_series(volume, tmp_path, compress=True)
    ds = pydicom.dcmread(paths[2])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(paths[2])
    assert "cannot be decoded" in _error([tmp_path])


def test_images_without_geometry_stack_by_instance_number(tmp_path, volume):
    paths = write_series(volume, tmp_path, order="shuffled")
    expected = {}
    for path in paths:
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient, ds.ImageOrientationPatient
        ds.save_as(path)
        expected[int(ds.InstanceNumber)] = ds.pixel_array.astype(np.float32) - 1024
    series = load_series([tmp_path])
    assert not series.has_geometry
    assert np.isnan(series.positions).all() and series.positions.shape == (9, 3)
    np.testing.assert_array_equal(series.volume, np.stack([expected[n] for n in sorted(expected)]))
