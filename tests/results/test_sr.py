"""build_sr: TID 1500 groups, tracking UIDs, SEG references, image library, findings."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import pytest
from pydicom.sr.codedict import codes

from hub.errors import ResultError
from hub.results import build_seg, build_sr
from hub.sdk import Result
from tests.results.conftest import NODULE, classifier_manifest, lung_manifest

MEASURED = {"left_volume": 1.25, "right_volume": 2.5, "total_volume": 3.75}


def _roundtrip(sr: hd.sr.Comprehensive3DSR, tmp_path: Path) -> hd.sr.Comprehensive3DSR:
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    return hd.sr.srread(path)


@pytest.mark.parametrize("multiframe", [False, True])
def test_volumetric_groups_reference_seg_segments(make_source, tmp_path, multiframe):
    source = make_source(order="shuffled", multiframe=multiframe)
    manifest = lung_manifest()
    result = Result(labelmap=source.truth, measurements=MEASURED)
    seg = build_seg(source.series, manifest, result)
    sr = _roundtrip(build_sr(source.series, manifest, result, seg=seg), tmp_path)
    volumetric = sr.content.get_volumetric_roi_measurement_groups()
    assert len(volumetric) == 2
    by_segment = {}
    for group in volumetric:
        ref = group.referenced_segment
        assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert ref.referenced_sop_class_uid == seg.SOPClassUID
        by_segment[ref.referenced_segment_numbers[0]] = group
        # tracking: human-readable identifier and a UID shared with the SEG segment
        assert group.tracking_uid and group.tracking_identifier
        source_series = ref.source_series_for_segmentation
        assert source_series.value == source.series.series_instance_uid
    assert set(by_segment) == {1, 2}
    for number, key in ((1, "left_volume"), (2, "right_volume")):
        group = by_segment[number]
        segment = seg.SegmentSequence[number - 1]
        assert group.tracking_uid == segment.TrackingUID
        (measurement,) = group.get_measurements()
        assert measurement.value == pytest.approx(MEASURED[key])
        assert measurement.unit.value == "ml"
        assert measurement.name.value == "118565006"
    # the series-level measurement sits in an image-level group with its own tracking UID
    image_level = sr.content.get_image_measurement_groups()
    assert len(image_level) == 1
    assert image_level[0].get_measurements()[0].value == pytest.approx(3.75)
    uids = [g.tracking_uid for g in volumetric + image_level]
    assert all(uids) and len(set(uids)) == len(uids)
    _check_common(sr, source, seg)


def _check_common(sr, source, seg=None) -> None:
    header = source.series.header
    assert sr.StudyInstanceUID == header.StudyInstanceUID
    assert sr.PatientID == header.PatientID
    assert sr.SeriesInstanceUID != header.SeriesInstanceUID
    assert "not for diagnosis" in sr.SeriesDescription and sr.SeriesDescription.startswith("AI ")
    assert sr.Manufacturer == "pacs-ai-hub" and sr.SeriesNumber == 9902
    evidence = {
        series.SeriesInstanceUID: {i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence}
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
    }
    sources = {ds.SOPInstanceUID for ds in source.series.datasets}
    assert evidence[header.SeriesInstanceUID] == sources
    if seg is not None:
        assert evidence[seg.SeriesInstanceUID] == {seg.SOPInstanceUID}
    # image library: one entry per source image (OHIF needs it to place the report)
    library = [
        item
        for item in sr.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImageLibrary.value
    ]
    assert len(library) == 1
    entries = [
        entry
        for group in library[0].ContentSequence
        for entry in group.ContentSequence
        if entry.ValueType == "IMAGE"
    ]
    assert {e.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for e in entries} == sources


def test_classifier_sr_only_with_qualitative_evaluation(make_source, tmp_path):
    source = make_source(order="reversed")
    manifest = classifier_manifest()
    result = Result(findings={"nodule": "present"}, scores={"nodule": 0.87})
    sr = _roundtrip(build_sr(source.series, manifest, result), tmp_path)
    (group,) = sr.content.get_image_measurement_groups()
    assert group.tracking_uid and group.tracking_identifier == "Nodule"
    # (highdicom also lists the Algorithm Family CODE item of the group here)
    (evaluation,) = [e for e in group.get_qualitative_evaluations() if e.name.value == NODULE.value]
    assert evaluation.name.value == NODULE.value
    assert evaluation.value.value == "373066001"  # Yes
    (score,) = group.get_measurements()
    assert score.value == pytest.approx(0.87) and score.unit.value == "1"
    # observer context: the model as device observer
    texts = {item.TextValue for item in sr.ContentSequence if item.ValueType == "TEXT"}
    assert "ct-nodule-cls" in texts
    observer_types = [
        item.ConceptCodeSequence[0].CodeValue
        for item in sr.ContentSequence
        if item.ValueType == "CODE" and item.ConceptNameCodeSequence[0].CodeValue == "121005"
    ]
    assert observer_types == [codes.DCM.Device.value]
    _check_common(sr, source)


def test_segment_measurements_without_seg_are_image_level(make_source, tmp_path):
    source = make_source()
    manifest = lung_manifest(outputs=("SR",))
    sr = _roundtrip(build_sr(source.series, manifest, Result(measurements=MEASURED)), tmp_path)
    assert sr.content.get_volumetric_roi_measurement_groups() == []
    groups = sr.content.get_image_measurement_groups()
    assert len(groups) == 3
    assert {g.finding_type.value for g in groups if g.finding_type} == {"39607008"}


def test_sr_refused_for_empty_or_undeclared_results(make_source):
    source = make_source()
    with pytest.raises(ResultError, match="no measurements or findings"):
        build_sr(source.series, classifier_manifest(), Result())
    with pytest.raises(ResultError, match="answer 'maybe'"):
        build_sr(source.series, classifier_manifest(), Result(findings={"nodule": "maybe"}))


def test_private_codes_declare_their_scheme_even_without_scores(make_source):
    from dataclasses import replace

    from hub.sdk import CODES, Code, FindingSpec

    private = Code("BURNED_IN_TEXT", "99PACSHUB", "Burned in annotation")
    manifest = replace(
        classifier_manifest(),
        findings=(
            FindingSpec("nodule", private, {"present": CODES["yes"], "absent": CODES["no"]}),
        ),
    )
    source = make_source()
    sr = build_sr(source.series, manifest, Result(findings={"nodule": "present"}))
    schemes = [i.CodingSchemeDesignator for i in sr.get("CodingSchemeIdentificationSequence", [])]
    assert "99PACSHUB" in schemes
    public = build_sr(source.series, classifier_manifest(), Result(findings={"nodule": "absent"}))
    public_schemes = [
        i.CodingSchemeDesignator for i in public.get("CodingSchemeIdentificationSequence", [])
    ]
    assert "99PACSHUB" not in public_schemes
