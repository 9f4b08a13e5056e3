"""Fixtures for the SEG/SR tests: manifests, ground-truth label maps, source series, tools."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from hub.inference.volume import load_series
from hub.sdk import (
    CODES,
    UNITS,
    Code,
    FindingSpec,
    MeasurementSpec,
    ModelManifest,
    SegmentSpec,
    Series,
    TensorSpec,
)
from hub.testing import validators
from hub.testing.dicom import geometry, write_series
from hub.testing.validators import require_tool

SHAPE = (6, 32, 40)
LABELMAP_SEG = "1.2.840.10008.5.1.4.1.1.66.7"  # Label Map Segmentation Storage
LEFT, RIGHT = 1, 3  # non-consecutive labels on purpose: SEG segment numbers are 1 and 2


def lung_manifest(
    seg_type: str = "binary", version: str = "1.0.0", outputs: tuple[str, ...] = ("SEG", "SR")
) -> ModelManifest:
    """A two-segment lung model with volumes per segment and one series-level measurement."""
    return ModelManifest(
        name="ct-lung-seg",
        version=version,
        modalities=("CT",),
        model_file=Path("unused.onnx"),
        sha256="0" * 64,
        inputs=(TensorSpec("image", (None, 1, None, None)),),
        outputs=outputs,  # type: ignore[arg-type]
        segments=(
            SegmentSpec(
                LEFT, "Left lung", CODES["anatomical_structure"], CODES["lung"], CODES["left"]
            ),
            SegmentSpec(
                RIGHT, "Right lung", CODES["anatomical_structure"], CODES["lung"], CODES["right"]
            ),
        ),
        measurements=(
            MeasurementSpec("left_volume", CODES["volume"], UNITS["ml"], segment_label=LEFT),
            MeasurementSpec("right_volume", CODES["volume"], UNITS["ml"], segment_label=RIGHT),
            MeasurementSpec("total_volume", CODES["volume"], UNITS["ml"]),
        ),
        seg_type=seg_type,  # type: ignore[arg-type]
        description="Lung segmentation (test)",
    )


NODULE = Code("27925004", "SCT", "Nodule")


def classifier_manifest() -> ModelManifest:
    """An SR-only classifier with one finding."""
    return ModelManifest(
        name="ct-nodule-cls",
        version="2.1.0",
        modalities=("CT",),
        model_file=Path("unused.onnx"),
        sha256="f" * 64,
        inputs=(TensorSpec("image", (1, 1, None, None, None)),),
        outputs=("SR",),
        dimensionality="3d",
        findings=(FindingSpec("nodule", NODULE, {"present": CODES["yes"], "absent": CODES["no"]}),),
    )


def truth_labelmap(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """Two blocks whose extent changes on every slice, so a mask on the wrong slice shows."""
    labelmap = np.zeros(shape, dtype=np.uint8)
    for k in range(shape[0]):
        labelmap[k, 2 : 6 + k, 3 : 8 + 2 * k] = LEFT
        if k >= 1:
            labelmap[k, 18 : 20 + k, 20 : 22 + 3 * k] = RIGHT
    return labelmap


@dataclass
class Source:
    """A written test series: the loaded Series, its files and how it was written."""

    series: Series
    paths: list[Path]
    truth: np.ndarray
    spacing: tuple[float, float, float]
    orientation: tuple[float, ...]
    origin: tuple[float, float, float]

    def slice_of_position(self, position: Any) -> int:
        """Ground-truth volume slice index of an ImagePositionPatient (from write_series)."""
        _, _, normal = geometry(self.orientation)
        along = float(np.dot(np.asarray(position, float) - self.origin, normal)) / self.spacing[0]
        k = round(along)
        assert abs(along - k) < 1e-3, f"position {position} is between slices"
        return k


@pytest.fixture
def make_source(tmp_path: Path):
    """Write a series with ``write_series(**kwargs)`` and load it with the hub's loader."""
    counter = iter(range(1000))

    def make(**kwargs: Any) -> Source:
        spacing = tuple(kwargs.setdefault("spacing", (2.0, 0.7, 0.9)))
        orientation = tuple(kwargs.setdefault("orientation", (1.0, 0, 0, 0, 1.0, 0)))
        origin = tuple(kwargs.setdefault("origin", (-10.0, 5.0, 30.0)))
        rng = np.random.default_rng(3)
        volume = rng.integers(-1000, 400, size=SHAPE).astype(np.float32)
        paths = write_series(volume, tmp_path / f"src{next(counter)}", **kwargs)
        series = load_series(paths, workers=1)
        return Source(series, paths, truth_labelmap(), spacing, orientation, origin)  # type: ignore[arg-type]

    return make


def assert_dcmdump_clean(path: Path) -> None:
    """dcmdump parses the whole file: exit 0 and no ``E:`` lines."""
    require_tool("dcmdump")
    report = validators.dcmdump(path)
    assert not report.errors, report.errors


#: What a dicom3tools release older than the Label Map Segmentation IOD (DICOM 2024, Sup 243)
#: says about a LABELMAP SEG and an SR referencing one: it does not know the IOD, applies the
#: BINARY rule that segment numbers start at 1 to the Background segment 0 the new IOD defines,
#: and does not count the new SOP Class as a segmentation when an SR references its segments.
_UNKNOWN_LABELMAP_IOD = (
    "Information Object Not found",
    "with SegmentNumber of 0",
    "Shall not be present for Referenced SOP Class that is not segmentation",
)


def assert_dciodvfy_clean(path: Path) -> list[str]:
    """dciodvfy reports no errors; returns (and prints) its warnings.

    For a LABELMAP SEG (or an SR referencing one) checked by a dciodvfy that predates the IOD,
    only the messages of
    :data:`_UNKNOWN_LABELMAP_IOD` are tolerated (reported as warnings); any other error fails.
    """
    require_tool("dciodvfy")
    report = validators.dciodvfy(path)
    errors, warnings = list(report.errors), list(report.warnings)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    labelmap = header.SOPClassUID == LABELMAP_SEG or (
        header.Modality == "SR" and LABELMAP_SEG.encode() in path.read_bytes()
    )
    if labelmap and _dciodvfy_predates_labelmap():
        tolerated = [e for e in errors if any(t in e for t in _UNKNOWN_LABELMAP_IOD)]
        errors = [e for e in errors if e not in tolerated]
        warnings += [f"Warning (tolerated, IOD unknown to this dciodvfy) {e}" for e in tolerated]
    assert not errors, errors
    for line in warnings:
        print(f"dciodvfy {path.name}: {line}")  # noqa: T201
    return warnings


def _dciodvfy_predates_labelmap() -> bool:
    """True when the installed dciodvfy does not know the Label Map Segmentation IOD."""
    done = subprocess.run(
        [require_tool("dciodvfy"), "-version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"snapshot\.(\d{8})", done.stdout + done.stderr)
    return match is not None and match.group(1) < "20240401"
