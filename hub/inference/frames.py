"""Per-frame geometry of single-frame and multi-frame (enhanced) images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class FrameGeometry:
    """Where one frame lies and how its stored values map to modality units."""

    rows: int
    columns: int
    orientation: tuple[float, ...]
    position: np.ndarray | None
    pixel_spacing: tuple[float, float]
    slice_thickness: float
    slope: float
    intercept: float
    instance_number: int

    @property
    def has_position(self) -> bool:
        return self.position is not None


def _first(groups: list[Dataset], sequence: str, keyword: str) -> object | None:
    """Value of ``keyword`` in the first item of ``sequence`` in the first group having it."""
    for group in groups:
        items = group.get(sequence)
        if items:
            value = items[0].get(keyword)
            if value is not None:
                return value
    return None


def _spacing(value: object, fallback: tuple[float, float]) -> tuple[float, float]:
    if value is None:
        return fallback
    row, col = (float(v) for v in value)  # type: ignore[attr-defined]
    return row, col


def frame_geometries(ds: Dataset) -> list[tuple[int | None, FrameGeometry]]:
    """Geometry of every frame of ``ds``: ``(frame_number, geometry)`` pairs.

    Single-frame images give one pair with frame number ``None``; multi-frame images give
    1-based frame numbers. Images without patient geometry (projection radiographs,
    ultrasound) get ``position=None`` and are stacked in InstanceNumber order by the loader.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    instance = int(ds.get("InstanceNumber", 0) or 0)
    fallback_spacing = _spacing(
        ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing"), (1.0, 1.0)
    )
    thickness = float(ds.get("SliceThickness", 0) or ds.get("SpacingBetweenSlices", 0) or 1.0)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None:
        iop = ds.get("ImageOrientationPatient")
        ipp = ds.get("ImagePositionPatient")
        has_geometry = iop is not None and ipp is not None and frames == 1
        geometry = FrameGeometry(
            rows=rows,
            columns=columns,
            orientation=tuple(float(v) for v in iop) if has_geometry else AXIAL,
            position=np.array([float(v) for v in ipp]) if has_geometry else None,
            pixel_spacing=fallback_spacing,
            slice_thickness=thickness,
            slope=slope,
            intercept=intercept,
            instance_number=instance,
        )
        if frames == 1:
            return [(None, geometry)]
        return [(n, geometry) for n in range(1, frames + 1)]
    shared = list(ds.get("SharedFunctionalGroupsSequence") or [])
    result: list[tuple[int | None, FrameGeometry]] = []
    for number, item in enumerate(per_frame, start=1):
        groups = [item, *shared]
        iop = _first(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        ipp = _first(groups, "PlanePositionSequence", "ImagePositionPatient")
        has_geometry = iop is not None and ipp is not None
        frame_slope = _first(groups, "PixelValueTransformationSequence", "RescaleSlope")
        frame_intercept = _first(groups, "PixelValueTransformationSequence", "RescaleIntercept")
        frame_thickness = _first(groups, "PixelMeasuresSequence", "SliceThickness")
        result.append(
            (
                number,
                FrameGeometry(
                    rows=rows,
                    columns=columns,
                    orientation=tuple(float(v) for v in iop) if has_geometry else AXIAL,  # type: ignore[union-attr]
                    position=np.array([float(v) for v in ipp]) if has_geometry else None,  # type: ignore[union-attr]
                    pixel_spacing=_spacing(
                        _first(groups, "PixelMeasuresSequence", "PixelSpacing"),
                        fallback_spacing,
                    ),
                    slice_thickness=float(frame_thickness or thickness),  # type: ignore[arg-type]
                    slope=float(frame_slope if frame_slope is not None else slope),  # type: ignore[arg-type]
                    intercept=float(
                        frame_intercept if frame_intercept is not None else intercept  # type: ignore[arg-type]
                    ),
                    instance_number=instance * 100000 + number,
                ),
            )
        )
    return result
