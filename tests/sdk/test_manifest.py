"""SDK declarations validate at construction and name field, value and expectation."""

from __future__ import annotations

import pytest

from hub.errors import ManifestError
from hub.sdk import (
    CODES,
    UNITS,
    Code,
    FindingSpec,
    MeasurementSpec,
    ModelManifest,
    SegmentSpec,
    TensorSpec,
)

SHA = "a" * 64


def manifest(**changes):
    fields = dict(
        name="ct-lung-seg",
        version="1.0.0",
        modalities=("CT",),
        model_file="model.onnx",
        sha256=SHA,
        inputs=(TensorSpec("image", (None, 1, None, None)),),
        segments=(SegmentSpec(1, "Lung", CODES["anatomical_structure"], CODES["lung"]),),
        measurements=(MeasurementSpec("lung_volume", CODES["volume"], UNITS["ml"], 1),),
    )
    fields.update(changes)
    return ModelManifest(**fields)


def test_valid_manifest():
    m = manifest(modalities="CT")
    assert m.modalities == ("CT",)
    assert m.key == "ct-lung-seg@1.0.0"
    assert str(m.model_file) == "model.onnx"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "CT Lung"}, "name"),
        ({"version": ""}, "version"),
        ({"modalities": ("CT", "XX")}, "modalities"),
        ({"modalities": ()}, "modalities"),
        ({"sha256": "abc"}, "sha256"),
        ({"inputs": ()}, "inputs"),
        ({"inputs": (TensorSpec("a", (1,)), TensorSpec("a", (1,)))}, "inputs"),
        ({"sop_classes": ("not-a-uid",)}, "sop_classes"),
        ({"min_slices": 0}, "min_slices"),
        ({"min_slices": 5, "max_slices": 2}, "max_slices"),
        ({"outputs": ("SEG", "PDF")}, "outputs"),
        ({"segments": ()}, "segments"),
        ({"dimensionality": "4d"}, "dimensionality"),
        ({"seg_type": "fractional"}, "seg_type"),
        (
            {"measurements": (MeasurementSpec("v", CODES["volume"], UNITS["ml"], 7),)},
            "measurements.segment_label",
        ),
        ({"outputs": ("SR",), "measurements": (), "segments": ()}, "outputs"),
    ],
)
def test_bad_manifest_names_field(changes, field):
    with pytest.raises(ManifestError) as info:
        manifest(**changes)
    assert info.value.field == field
    assert field in info.value.cause and "expected" in info.value.cause
    assert info.value.fix


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Code("lung", "SCT", "Lung"), "code.value"),
        (lambda: Code("1", "SNOMED", "x"), "code.scheme"),
        (lambda: Code("1", "DCM", ""), "code.meaning"),
        (lambda: TensorSpec("image", (0, 1)), "inputs.shape"),
        (lambda: TensorSpec("image", (1,), "float8"), "inputs.dtype"),
        (lambda: SegmentSpec(0, "x", CODES["lung"], CODES["lung"]), "segments.label"),
        (lambda: MeasurementSpec("Vol", CODES["volume"], UNITS["ml"]), "measurements.key"),
        (lambda: MeasurementSpec("v", CODES["volume"], CODES["lung"]), "measurements.unit"),
        (lambda: FindingSpec("f", CODES["finding"], {}), "findings.values"),
    ],
)
def test_bad_declarations(build, field):
    with pytest.raises(ManifestError) as info:
        build()
    assert info.value.field == field


def test_sr_only_classifier_manifest():
    m = manifest(
        outputs=("SR",),
        segments=(),
        measurements=(),
        findings=(FindingSpec("text", CODES["finding"], {"yes": CODES["yes"], "no": CODES["no"]}),),
    )
    assert m.outputs == ("SR",)


def test_codes_tables_are_valid_codes():
    assert all(isinstance(c, Code) for c in CODES.values())
    assert all(u.scheme == "UCUM" for u in UNITS.values())
