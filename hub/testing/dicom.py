"""Write numpy volumes as realistic DICOM series, for tests, benchmarks and training data.

Deterministic: the same arguments give the same files, UIDs included (UIDs derive from
``seed``). Geometry is exact: voxel ``(k, i, j)`` of ``volume`` lies at
``origin + k * slice_spacing * normal + i * row_spacing * col_dir + j * col_spacing * row_dir``
where ``row_dir``/``col_dir`` are the first/second triplets of ``orientation``.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

_SOP = {
    ("CT", False): CTImageStorage,
    ("MR", False): MRImageStorage,
    ("CT", True): EnhancedCTImageStorage,
    ("MR", True): EnhancedMRImageStorage,
}


def uid_from(seed: str) -> UID:
    """A valid, deterministic UID derived from ``seed`` (2.25 + decimal of a hash)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    return UID(f"2.25.{number}")


def geometry(
    orientation: Sequence[float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row direction, column direction and slice normal of an orientation."""
    row_dir = np.asarray(orientation[:3], dtype=float)
    col_dir = np.asarray(orientation[3:], dtype=float)
    return row_dir, col_dir, np.cross(row_dir, col_dir)


def oblique_orientation(degrees: float = 20.0) -> tuple[float, ...]:
    """An orientation rotated about the x axis and then the z axis (a double-oblique plane)."""
    a = np.deg2rad(degrees)
    rot_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    b = np.deg2rad(degrees / 2)
    rot_z = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    rot = rot_z @ rot_x
    row_dir, col_dir = rot @ np.array([1.0, 0, 0]), rot @ np.array([0, 1.0, 0])
    return tuple(float(round(v, 8)) for v in (*row_dir, *col_dir))


def _base_dataset(modality: str, seed: str, sop_class: UID, patient: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.PatientName = f"{patient}^Phantom"
    ds.PatientID = f"PH-{hashlib.sha1(seed.encode()).hexdigest()[:8].upper()}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uid_from(seed + "/study")
    ds.SeriesInstanceUID = uid_from(seed + "/series")
    ds.FrameOfReferenceUID = uid_from(seed + "/for")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = "ACC" + hashlib.sha1(seed.encode()).hexdigest()[:6].upper()
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.Modality = modality
    ds.Manufacturer = "pacs-ai-hub phantom"
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def write_series(
    volume: np.ndarray,
    out_dir: str | Path,
    *,
    modality: Literal["CT", "MR"] = "CT",
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    seed: str = "phantom",
    order: Literal["sorted", "reversed", "shuffled"] = "sorted",
    multiframe: bool = False,
    compress: bool = False,
    rescale: tuple[float, float] | None = None,
    body_part: str = "",
    series_description: str = "",
    patient: str = "Doe",
) -> list[Path]:
    """Write ``volume`` (slices, rows, columns; modality units) as a DICOM series.

    ``spacing`` is (slice, row, column) in mm. ``order`` sets the InstanceNumber and file
    names: ``reversed`` numbers slices against the normal, ``shuffled`` at random (seeded), so
    loaders that trust them instead of positions fail. ``rescale`` is (slope, intercept);
    default (1, -1024) for CT and (1, 0) for MR. ``compress`` writes RLE Lossless. With
    ``multiframe`` one Enhanced CT/MR object holds all frames (its frames in ``order``).
    Returns the written paths in file-name order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slope, intercept = rescale or ((1.0, -1024.0) if modality == "CT" else (1.0, 0.0))
    stored = np.round((np.asarray(volume, dtype=np.float64) - intercept) / slope)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError("volume does not fit int16 with the given rescale")
    stored = stored.astype(np.int16)
    row_dir, col_dir, normal = geometry(orientation)
    n = stored.shape[0]
    positions = [
        np.asarray(origin, dtype=float) + k * float(spacing[0]) * normal for k in range(n)
    ]
    order_idx = list(range(n))
    if order == "reversed":
        order_idx.reverse()
    elif order == "shuffled":
        random.Random(seed).shuffle(order_idx)
    sop_class = _SOP[(modality, multiframe)]
    base = _base_dataset(modality, seed, sop_class, patient)
    base.SeriesDescription = series_description or f"Phantom {modality}"
    if body_part:
        base.BodyPartExamined = body_part
    pixel_spacing = [float(spacing[1]), float(spacing[2])]
    if multiframe:
        path = out / "enhanced.dcm"
        _write_enhanced(
            base, stored, order_idx, positions, orientation, pixel_spacing, spacing, slope,
            intercept, path, seed, compress,
        )
        return [path]
    paths = []
    for number, k in enumerate(order_idx, start=1):
        ds = Dataset()
        ds.update(base)
        ds.SOPInstanceUID = uid_from(f"{seed}/instance/{k}")
        ds.InstanceNumber = number
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [round(float(v), 6) for v in positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = pixel_spacing
        ds.SliceThickness = float(spacing[0])
        ds.SliceLocation = round(float(np.dot(positions[k], normal)), 6)
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.KVP = 120
        else:
            ds.ScanningSequence = "GR"
            ds.SequenceVariant = "SP"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D"
            ds.EchoTime = 3.0
            ds.RepetitionTime = 8.0
            ds.MagneticFieldStrength = 3.0
        ds.Rows, ds.Columns = stored.shape[1:]
        ds.PixelData = stored[k].tobytes()
        path = out / f"IM{number:05d}.dcm"
        _save(ds, path, compress)
        paths.append(path)
    return paths


def _save(ds: Dataset, path: Path, compress: bool) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    if compress:
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


def _write_enhanced(
    base: Dataset,
    stored: np.ndarray,
    order_idx: list[int],
    positions: list[np.ndarray],
    orientation: Sequence[float],
    pixel_spacing: list[float],
    spacing: Sequence[float],
    slope: float,
    intercept: float,
    path: Path,
    seed: str,
    compress: bool,
) -> None:
    ds = Dataset()
    ds.update(base)
    ds.SOPInstanceUID = uid_from(f"{seed}/enhanced")
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.ContentQualification = "PRODUCT"
    ds.BurnedInAnnotation = "NO"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionDateTime = datetime.datetime(2026, 1, 1, 12).strftime("%Y%m%d%H%M%S")
    ds.VolumetricProperties = "VOLUME"
    ds.NumberOfFrames = len(order_idx)
    ds.Rows, ds.Columns = stored.shape[1:]
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = pixel_spacing
    measures.SliceThickness = float(spacing[0])
    measures.SpacingBetweenSlices = float(spacing[0])
    shared.PixelMeasuresSequence = [measures]
    plane = Dataset()
    plane.ImageOrientationPatient = [float(v) for v in orientation]
    shared.PlaneOrientationSequence = [plane]
    transform = Dataset()
    transform.RescaleSlope = slope
    transform.RescaleIntercept = intercept
    transform.RescaleType = "HU" if base.Modality == "CT" else "US"
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for k in order_idx:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [round(float(v), 6) for v in positions[k]]
        item.PlanePositionSequence = [pos]
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = [content]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.ascontiguousarray(stored[order_idx]).tobytes()
    _save(ds, path, compress)


def read(path: str | Path) -> Dataset:
    """Shorthand for ``pydicom.dcmread`` used by tests."""
    return pydicom.dcmread(path)
