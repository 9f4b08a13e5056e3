"""What a plugin receives (:class:`Series`) and returns (:class:`Result`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset


@dataclass(frozen=True)
class SliceRef:
    """Where one slice of the volume came from: a dataset and, for multi-frame, a frame."""

    dataset_index: int
    #: 1-based frame number within a multi-frame dataset, ``None`` for single-frame images.
    frame_number: int | None = None


@dataclass
class Series:
    """One DICOM series loaded as a volume, sorted along the slice normal.

    Attributes:
        volume: float32 array ``(slices, rows, columns)`` in modality units (rescale applied,
            e.g. Hounsfield units for CT); slice 0 is the most negative position along
            ``normal``.
        spacing: ``(slice, row, column)`` spacing in mm; slice spacing is measured from the
            positions, row/column spacing is PixelSpacing.
        orientation: ImageOrientationPatient, 6 direction cosines (row then column).
        positions: ``(slices, 3)`` ImagePositionPatient of each slice, in volume order; NaN
            for images without patient geometry (projection radiographs, ultrasound), which
            are stacked in InstanceNumber order.
        normal: unit slice normal (row x column cosines).
        datasets: the source headers (PixelData removed), in input order.
        slices: for each volume slice, where it came from.
        modality / series_instance_uid / study_instance_uid / sop_class_uid / body_part:
            convenience copies of the source attributes.
    """

    volume: np.ndarray
    spacing: tuple[float, float, float]
    orientation: tuple[float, ...]
    positions: np.ndarray
    normal: np.ndarray
    datasets: Sequence[Dataset]
    slices: Sequence[SliceRef]
    modality: str
    series_instance_uid: str
    study_instance_uid: str
    sop_class_uid: str
    body_part: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.volume.shape)  # type: ignore[return-value]

    @property
    def has_geometry(self) -> bool:
        """Whether every slice has a patient position (cross-sectional images)."""
        return bool(len(self.positions)) and bool(np.isfinite(self.positions).all())

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (mm^3 / 1000)."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def header(self) -> Dataset:
        """The first source header, for attributes common to the series."""
        return self.datasets[0]


@dataclass
class Result:
    """What ``postprocess`` returns.

    Attributes:
        labelmap: uint8 array of the volume's shape; 0 is background, other values are the
            manifest's segment labels. Required when the manifest outputs SEG.
        measurements: measurement key -> value (in the manifest's unit).
        findings: finding key -> answer key (one of the manifest's ``FindingSpec.values``).
        scores: optional finding key -> confidence in [0, 1], reported beside the finding.
    """

    labelmap: np.ndarray | None = None
    measurements: dict[str, float] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
