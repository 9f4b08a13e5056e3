"""Tests of the burned-in text plugin on synthetic US, CR and OT images with and without text.

``hub.testing.dicom.write_series`` writes CT/MR volumes, so this module has its own small
writer for single-frame projection images (no patient geometry), the way modalities send them.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from us_burned_in_text import plugin

from hub.inference import load_series, run_model
from hub.results.writer import write_results
from hub.sdk import CODES, Series
from hub.testing import assert_plugin_valid

SOP_CLASSES = {
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "CR": "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "OT": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
}
BITS = {"US": 8, "CR": 12, "OT": 8}


def write_image(
    pixels: np.ndarray, path: Path, modality: str, series: Dataset, number: int
) -> None:
    """Write one single-frame MONOCHROME2 image of ``modality``; ``series`` holds the UIDs."""
    bits = BITS[modality]
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    ds.StudyInstanceUID = series.StudyInstanceUID
    ds.SeriesInstanceUID = series.SeriesInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^US", "T1", "", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", ""
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, number
    ds.Manufacturer = "pacs-ai-hub test"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ConversionType = "WSD" if modality == "OT" else None
    if ds.ConversionType is None:
        del ds.ConversionType
    if modality == "CR":
        ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    dtype = np.uint8 if bits == 8 else np.uint16
    ds.PixelData = np.clip(pixels, 0, 2**bits - 1).astype(dtype).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def speckle(rows: int, columns: int, maximum: int, seed: int) -> np.ndarray:
    """A speckle-like image that stays below 80 % of ``maximum`` (no saturated pixels)."""
    rng = np.random.default_rng(seed)
    image = rng.rayleigh(0.16 * maximum, (rows, columns))
    image[:, : columns // 6] *= 0.2
    return np.clip(image, 0, 0.8 * maximum)


def draw_text(image: np.ndarray, row: int, column: int, characters: int, value: float) -> None:
    """Burn in ``characters`` random 5x7 glyphs (one-pixel strokes) at full ``value``."""
    rng = np.random.default_rng(1)
    for k in range(characters):
        glyph = rng.random((7, 5)) < 0.45
        left = column + 6 * k
        image[row : row + 7, left : left + 5][glyph] = value


def make_series(
    folder: Path, modality: str, text: list[bool], block: bool = False, seed: int = 0
) -> Series:
    """Write one image per entry of ``text`` (with burned-in text where True) and load them."""
    folder.mkdir(parents=True)
    header = Dataset()
    header.StudyInstanceUID = generate_uid(entropy_srcs=[str(folder), "study"])
    header.SeriesInstanceUID = generate_uid(entropy_srcs=[str(folder), "series"])
    maximum = 2 ** BITS[modality] - 1
    for number, has_text in enumerate(text, start=1):
        image = speckle(240, 320, maximum, seed + number)
        if has_text:
            draw_text(image, 6, 20, 24, maximum)  # patient/date line in the top band
            draw_text(image, 225, 200, 12, maximum)  # probe/settings line at the bottom
        if block:
            image[4:30, 100:180] = maximum  # a solid saturated area, not text
        write_image(image, folder / f"IM{number:04d}.dcm", modality, header, number)
    return load_series([folder])


def answer(series: Series) -> tuple[str, float]:
    """The plugin's finding and score on ``series``."""
    [model] = assert_plugin_valid(plugin, series=series)
    result = run_model(model, series).result
    return result.findings["burned_in_text"], result.scores["burned_in_text"]


def test_plugin_is_valid() -> None:
    [model] = assert_plugin_valid(plugin)
    assert model.enabled and model.manifest.outputs == ("SR",)
    assert model.manifest.segments == ()


@pytest.mark.parametrize("modality", ["US", "CR", "OT"])
def test_finding_flips_with_burned_in_text(tmp_path: Path, modality: str) -> None:
    present, score_present = answer(make_series(tmp_path / "text", modality, [True]))
    absent, score_absent = answer(make_series(tmp_path / "clean", modality, [False]))
    assert (present, absent) == ("present", "absent")
    assert score_present > 0.9 > 0.1 > score_absent


def test_one_image_with_text_flags_the_series(tmp_path: Path) -> None:
    series = make_series(tmp_path / "cine", "US", [False, False, True, False])
    assert series.shape == (4, 240, 320)
    assert answer(series)[0] == "present"


def test_solid_saturated_area_is_not_text(tmp_path: Path) -> None:
    finding, score = answer(make_series(tmp_path / "block", "US", [False], block=True))
    assert finding == "absent" and score < 0.2


@pytest.mark.parametrize("has_text", [True, False])
def test_writes_an_sr_and_no_seg(tmp_path: Path, has_text: bool) -> None:
    series = make_series(tmp_path / "in", "US", [has_text, has_text])
    [model] = assert_plugin_valid(plugin)
    result = run_model(model, series).result
    files = write_results(series, model.manifest, result, tmp_path / "out")

    assert files.seg_path is None and files.sr_path is not None
    assert [p.name for p in (tmp_path / "out").iterdir()] == [files.sr_path.name]
    sr = hd.sr.srread(files.sr_path)
    assert sr.Modality == "SR" and sr.StudyInstanceUID == series.study_instance_uid
    [group] = sr.content.get_image_measurement_groups()
    # highdicom also lists the algorithm family (a CODE item) among the evaluations.
    [evaluation] = [
        item
        for item in group.get_qualitative_evaluations()
        if item.name.value == plugin.BURNED_IN_ANNOTATION.value
    ]
    assert evaluation.name.scheme_designator == "99PACSHUB"
    expected = CODES["yes"] if has_text else CODES["no"]
    assert evaluation.value.value == expected.value
    [confidence] = group.get_measurements()
    assert float(confidence.value) == pytest.approx(result.scores["burned_in_text"], abs=1e-6)
    referenced = {str(image.referenced_sop_instance_uid) for image in group.source_images}
    assert referenced == {str(ds.SOPInstanceUID) for ds in series.datasets}
    assert pydicom.dcmread(files.sr_path).ContentTemplateSequence[0].TemplateIdentifier == "1500"
