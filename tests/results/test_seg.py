"""build_seg: geometry per slice for any input order/orientation, codes, labelling, types."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from hub.errors import ResultError
from hub.results import build_seg
from hub.results.seg import segment_numbers
from hub.sdk import Result
from hub.testing.dicom import oblique_orientation
from tests.results.conftest import LEFT, RIGHT, Source, lung_manifest

CASES = {
    "sorted": {"order": "sorted"},
    "shuffled": {"order": "shuffled"},
    "reversed": {"order": "reversed"},
    "oblique-nonsquare": {
        "order": "shuffled",
        "orientation": oblique_orientation(25.0),
        "spacing": (1.5, 0.6, 1.1),
    },
    "enhanced-shuffled-oblique": {
        "order": "shuffled",
        "multiframe": True,
        "orientation": oblique_orientation(15.0),
    },
    "enhanced-reversed-mr": {"order": "reversed", "multiframe": True, "modality": "MR"},
}


def _roundtrip(seg: hd.seg.Segmentation, tmp_path: Path) -> hd.seg.Segmentation:
    path = tmp_path / "seg.dcm"
    seg.save_as(path, enforce_file_format=True)
    return hd.seg.segread(path)


def _frame_slice(source: Source, seg: hd.seg.Segmentation, index: int) -> int:
    """Ground-truth slice of SEG frame ``index``, checked two ways: position and reference."""
    item = seg.PerFrameFunctionalGroupsSequence[index]
    position = item.PlanePositionSequence[0].ImagePositionPatient
    k = source.slice_of_position(position)
    ref = item.DerivationImageSequence[0].SourceImageSequence[0]
    source_ds = pydicom.dcmread(
        next(
            p
            for p in source.paths
            if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
            == ref.ReferencedSOPInstanceUID
        ),
        stop_before_pixels=True,
    )
    if "ReferencedFrameNumber" in ref:
        frame = source_ds.PerFrameFunctionalGroupsSequence[int(ref.ReferencedFrameNumber) - 1]
        referenced_position = frame.PlanePositionSequence[0].ImagePositionPatient
    else:
        referenced_position = source_ds.ImagePositionPatient
    assert source.slice_of_position(referenced_position) == k
    np.testing.assert_allclose(
        [float(v) for v in position], [float(v) for v in referenced_position], atol=1e-4
    )
    return k


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seg_type", ["binary", "labelmap"])
def test_each_mask_frame_is_on_its_source_slice(make_source, tmp_path, case, seg_type):
    source = make_source(**CASES[case])
    manifest = lung_manifest(seg_type)
    seg = _roundtrip(build_seg(source.series, manifest, Result(labelmap=source.truth)), tmp_path)
    numbers = segment_numbers(manifest)
    pixels = seg.pixel_array if seg.NumberOfFrames > 1 else seg.pixel_array[None]
    seen: dict[int, int] = {LEFT: 0, RIGHT: 0}
    for index in range(int(seg.NumberOfFrames)):
        k = _frame_slice(source, seg, index)
        item = seg.PerFrameFunctionalGroupsSequence[index]
        if seg_type == "binary":
            number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
            label = {n: lab for lab, n in numbers.items()}[number]
            np.testing.assert_array_equal(pixels[index], source.truth[k] == label)
            seen[label] += int(pixels[index].sum())
        else:
            expected = np.zeros_like(source.truth[k])
            for label, number in numbers.items():
                expected[source.truth[k] == label] = number
            np.testing.assert_array_equal(pixels[index], expected)
            for label, number in numbers.items():
                seen[label] += int((pixels[index] == number).sum())
    # segment pixel counts equal the model output: no voxel lost or duplicated
    assert seen == {
        LEFT: int((source.truth == LEFT).sum()),
        RIGHT: int((source.truth == RIGHT).sum()),
    }
    # in-plane geometry copied exactly from the source
    shared = seg.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
        source.orientation,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing], source.spacing[1:]
    )


def test_volume_readback_matches_labelmap(make_source, tmp_path):
    source = make_source(order="shuffled", orientation=oblique_orientation(), spacing=(2, 0.5, 0.8))
    seg = _roundtrip(
        build_seg(source.series, lung_manifest(), Result(labelmap=source.truth)), tmp_path
    )
    volume = seg.get_volume(combine_segments=True, relabel=True)
    # highdicom's own geometry: its volume has our slices, possibly flipped along the normal
    array = volume.array
    if not np.array_equal(array, _numbered(source.truth)):
        array = array[::-1]
    nonempty = [k for k in range(source.truth.shape[0]) if source.truth[k].any()]
    np.testing.assert_array_equal(array, _numbered(source.truth)[nonempty[0] : nonempty[-1] + 1])


def _numbered(labelmap: np.ndarray) -> np.ndarray:
    out = np.zeros_like(labelmap)
    out[labelmap == LEFT] = 1
    out[labelmap == RIGHT] = 2
    return out


def test_segments_codes_algorithm_and_labelling(make_source, tmp_path):
    source = make_source()
    manifest = lung_manifest()
    seg = _roundtrip(build_seg(source.series, manifest, Result(labelmap=source.truth)), tmp_path)
    first = seg.SegmentSequence[0]
    assert first.SegmentLabel == "Left lung"
    assert first.SegmentAlgorithmType == "AUTOMATIC"
    prop = first.SegmentedPropertyTypeCodeSequence[0]
    assert (prop.CodeValue, prop.CodingSchemeDesignator) == ("39607008", "SCT")
    assert prop.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    algo = first.SegmentationAlgorithmIdentificationSequence[0]
    assert (algo.AlgorithmName, algo.AlgorithmVersion) == ("ct-lung-seg", "1.0.0")
    assert algo.AlgorithmFamilyCodeSequence[0].CodeValue == "113109"
    assert first.TrackingUID and first.TrackingID == "Left lung"
    assert [s.SegmentNumber for s in seg.SegmentSequence] == [1, 2]
    header = source.series.header
    assert seg.StudyInstanceUID == header.StudyInstanceUID
    assert seg.PatientID == header.PatientID and seg.PatientName == header.PatientName
    assert seg.SeriesInstanceUID != header.SeriesInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == header.SeriesInstanceUID
    assert seg.SeriesDescription == "AI ct-lung-seg 1.0.0 SEG - not for diagnosis"
    assert seg.Manufacturer == "pacs-ai-hub"
    assert seg.ManufacturerModelName == "ct-lung-seg"
    assert list(seg.SoftwareVersions)[1] == "1.0.0"
    assert seg.SeriesNumber == 9901
    assert seg.DeviceSerialNumber


def test_each_segment_recommends_its_palette_colour(make_source, tmp_path):
    """OHIF, the hub's viewer and its server renderer all draw a segment in one colour."""
    from hub.results.colors import palette_color
    from hub.web.render import lab_to_rgb

    source = make_source()
    seg = _roundtrip(build_seg(source.series, lung_manifest(), Result(labelmap=source.truth)),
                     tmp_path)
    for item in seg.SegmentSequence:
        lab = [int(v) for v in item.RecommendedDisplayCIELabValue]
        assert lab_to_rgb(lab) == palette_color(item.SegmentNumber)
    colours = {tuple(item.RecommendedDisplayCIELabValue) for item in seg.SegmentSequence}
    assert len(colours) == len(seg.SegmentSequence)


def test_labelmap_type_is_compressed(make_source, tmp_path):
    source = make_source()
    seg = build_seg(source.series, lung_manifest("labelmap"), Result(labelmap=source.truth))
    assert seg.file_meta.TransferSyntaxUID == RLELossless
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    back = _roundtrip(seg, tmp_path)
    assert back.segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
    assert len(back.PixelData) < back.Rows * back.Columns * int(back.NumberOfFrames) // 4


def test_all_empty_mask_gives_valid_seg(make_source, tmp_path):
    """Nothing found: still a readable SEG describing every segment, with one empty frame."""
    source = make_source()
    empty = np.zeros_like(source.truth)
    seg = _roundtrip(build_seg(source.series, lung_manifest(), Result(labelmap=empty)), tmp_path)
    assert len(seg.SegmentSequence) == 2
    assert int(seg.NumberOfFrames) >= 1
    assert not np.asarray(seg.pixel_array).any()


def test_one_empty_segment(make_source, tmp_path):
    source = make_source(order="reversed")
    only_left = np.where(source.truth == LEFT, LEFT, 0).astype(np.uint8)
    seg = _roundtrip(
        build_seg(source.series, lung_manifest(), Result(labelmap=only_left)), tmp_path
    )
    numbers = {
        int(i.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for i in seg.PerFrameFunctionalGroupsSequence
    }
    assert numbers == {1} and len(seg.SegmentSequence) == 2


def test_seg_refused_without_seg_output(make_source):
    source = make_source()
    with pytest.raises(ResultError, match="does not declare SEG"):
        build_seg(
            source.series,
            lung_manifest(outputs=("SR",)),
            Result(labelmap=source.truth, measurements={"total_volume": 1.0}),
        )


def test_multiframe_source_with_missing_frames_is_refused(make_source):
    source = make_source(multiframe=True)
    series = source.series
    partial = dataclasses.replace(
        series, volume=series.volume[1:], positions=series.positions[1:], slices=series.slices[1:]
    )
    with pytest.raises(ResultError, match="every frame"):
        build_seg(partial, lung_manifest(), Result(labelmap=source.truth[1:]))


def test_wider_integer_labelmap_is_accepted(make_source):
    source = make_source()
    seg = build_seg(source.series, lung_manifest(), Result(labelmap=source.truth.astype(np.int64)))
    assert len(seg.SegmentSequence) == 2
