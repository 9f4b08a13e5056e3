"""Load one DICOM series from files and folders into a :class:`hub.sdk.Series` volume.

Slices are sorted by their position along the slice normal (never by InstanceNumber or file
name), the modality LUT (rescale slope/intercept) is applied, and the geometry (spacing,
orientation, positions) is kept. Single-frame and multi-frame (enhanced) images are both
supported; compressed transfer syntaxes are decoded by the installed pylibjpeg plugins.
Anything that would make the volume wrong is refused with an :class:`hub.errors.InputError`
naming the cause and the fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from hub.errors import InputError
from hub.inference.frames import FrameGeometry, frame_geometries
from hub.sdk.types import Series, SliceRef

logger = logging.getLogger(__name__)

#: Relative tolerance on the slice spacing before a series counts as having gaps.
SPACING_TOLERANCE = 0.1
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

Progress = Callable[[int, int], None]
_NO_POSITION = (np.nan, np.nan, np.nan)


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of candidate files.

    Hidden files (``.name``) and ``DICOMDIR`` are skipped. Raises :class:`InputError` for a
    path that does not exist or when nothing is found.
    """
    files: list[Path] = []
    given = [Path(p) for p in paths]
    if not given:
        raise InputError("no input given", "pass one or more DICOM files or folders")
    for path in given:
        if path.is_dir():
            found = [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.name.upper() != "DICOMDIR"
            ]
            if not found:
                raise InputError(
                    f"folder {path} contains no files",
                    "pass a folder that holds the DICOM files of one series",
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path} does not exist", "check the path and try again")
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


_ARCHIVES = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"7z\xbc\xaf": "7-Zip",
}


def _archive_kind(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(8)
    return next((kind for magic, kind in _ARCHIVES.items() if head.startswith(magic)), None)


def _read(path: Path) -> Dataset:
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        kind = _archive_kind(path)
        if kind is not None:
            raise InputError(
                f"{path} is a {kind}-compressed archive, not a DICOM file",
                "unpack it and pass the folder of extracted DICOM files",
            ) from None
        raise InputError(
            f"{path} is not a DICOM file",
            "remove it from the input or pass only DICOM files (Part 10, with 'DICM' preamble)",
        ) from None
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(
            f"{path} could not be read as DICOM: {exc}",
            "re-export the file from the PACS or remove it from the input",
        ) from None
    return ds


@dataclass
class _Slice:
    geometry: FrameGeometry
    dataset_index: int
    frame_number: int | None


def load_series(
    paths: Iterable[str | os.PathLike[str]],
    progress: Progress | None = None,
    workers: int = 4,
) -> Series:
    """Read the DICOM files under ``paths`` and return one sorted :class:`Series`.

    ``progress(done, total)`` is called as files are decoded. Raises :class:`InputError` for
    non-DICOM files, more than one series, missing or truncated pixel data, mixed
    orientations/sizes/spacings, duplicate positions and gaps between slices.
    """
    files = collect_files(paths)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        datasets = [
            ds for ds in pool.map(_read, files) if ds.get("SOPClassUID") != _DICOMDIR_CLASS
        ]
    if not datasets:
        raise InputError("no DICOM images in the input", "pass the files of one image series")
    _check_one_series(datasets, files)
    for ds, path in zip(datasets, files, strict=False):
        if "PixelData" not in ds and "FloatPixelData" not in ds:
            raise InputError(
                f"{path} has no pixel data (SOP Class {ds.get('SOPClassUID', '?')})",
                "pass image instances only; SR, SEG, KO and other non-image objects are "
                "not model input",
            )
    slices = [
        _Slice(geometry, index, frame)
        for index, ds in enumerate(datasets)
        for frame, geometry in frame_geometries(ds)
    ]
    ordered, spacing_z, normal = _sort_and_check(slices, datasets, files)
    volume = _decode_volume(ordered, datasets, files, progress, workers)
    first = ordered[0].geometry
    for ds in datasets:
        ds.pop("PixelData", None)
    header = datasets[0]
    return Series(
        volume=volume,
        spacing=(spacing_z, first.pixel_spacing[0], first.pixel_spacing[1]),
        orientation=first.orientation,
        positions=np.array(
            [s.geometry.position if s.geometry.has_position else _NO_POSITION for s in ordered],
            dtype=np.float64,
        ),
        normal=normal,
        datasets=datasets,
        slices=[SliceRef(s.dataset_index, s.frame_number) for s in ordered],
        modality=str(header.get("Modality", "")),
        series_instance_uid=str(header.SeriesInstanceUID),
        study_instance_uid=str(header.get("StudyInstanceUID", "")),
        sop_class_uid=str(header.get("SOPClassUID", "")),
        body_part=str(header.get("BodyPartExamined", "")),
    )


def _check_one_series(datasets: Sequence[Dataset], files: Sequence[Path]) -> None:
    series: dict[str, int] = {}
    for ds, path in zip(datasets, files, strict=False):
        uid = ds.get("SeriesInstanceUID")
        if not uid:
            raise InputError(
                f"{path} has no SeriesInstanceUID",
                "the file is not a valid image instance; re-export it from the PACS",
            )
        series[str(uid)] = series.get(str(uid), 0) + 1
    if len(series) > 1:
        listing = ", ".join(f"{uid} ({count} files)" for uid, count in series.items())
        raise InputError(
            f"the input holds {len(series)} series: {listing}",
            "pass the files of one series at a time (one folder per series)",
        )
    sop_uids = [str(ds.get("SOPInstanceUID", "")) for ds in datasets]
    if len(set(sop_uids)) != len(sop_uids):
        raise InputError(
            "the same SOPInstanceUID occurs in more than one input file",
            "remove the duplicate copies of the instance",
        )


def _sort_and_check(
    slices: list[_Slice], datasets: Sequence[Dataset], files: Sequence[Path]
) -> tuple[list[_Slice], float, np.ndarray]:
    def where(s: _Slice) -> str:
        name = str(files[s.dataset_index])
        return name if s.frame_number is None else f"{name} frame {s.frame_number}"

    first = slices[0].geometry
    for s in slices[1:]:
        g = s.geometry
        if (g.rows, g.columns) != (first.rows, first.columns):
            raise InputError(
                f"mixed image sizes: {where(slices[0])} is {first.rows}x{first.columns}, "
                f"{where(s)} is {g.rows}x{g.columns}",
                "pass one series whose images all have the same Rows and Columns",
            )
        if not np.allclose(g.orientation, first.orientation, atol=1e-4):
            raise InputError(
                f"mixed orientations: {where(slices[0])} and {where(s)} have different "
                "ImageOrientationPatient",
                "split the series by orientation (e.g. a localizer mixed with axial slices)",
            )
        if not np.allclose(g.pixel_spacing, first.pixel_spacing, rtol=1e-4):
            raise InputError(
                f"mixed pixel spacing: {where(slices[0])} and {where(s)} differ",
                "pass one series whose images share PixelSpacing",
            )
    row_dir = np.asarray(first.orientation[:3])
    col_dir = np.asarray(first.orientation[3:])
    normal = np.cross(row_dir, col_dir)
    if not first.has_position:
        # Projection images without patient geometry: keep a stable, documented order.
        ordered = sorted(slices, key=lambda s: (s.geometry.instance_number, s.frame_number or 0))
        return ordered, first.slice_thickness, normal
    distance = {id(s): float(np.dot(s.geometry.position, normal)) for s in slices}
    ordered = sorted(slices, key=lambda s: distance[id(s)])
    if len(ordered) == 1:
        return ordered, first.slice_thickness, normal
    steps = np.diff([distance[id(s)] for s in ordered])
    smallest = int(np.argmin(steps))
    if steps[smallest] < 1e-3:
        raise InputError(
            f"duplicate slice position: {where(ordered[smallest])} and "
            f"{where(ordered[smallest + 1])} lie at the same place",
            "remove duplicate or repeated acquisitions so each position occurs once",
        )
    spacing = float(np.median(steps))
    worst = int(np.argmax(np.abs(steps - spacing)))
    if abs(steps[worst] - spacing) > SPACING_TOLERANCE * spacing:
        raise InputError(
            f"slice spacing is not uniform: {steps[worst]:.3f} mm between "
            f"{where(ordered[worst])} and {where(ordered[worst + 1])}, "
            f"{spacing:.3f} mm elsewhere (a slice may be missing)",
            "send the complete series; missing slices would make volumes wrong",
        )
    return ordered, spacing, normal


def _decode_volume(
    ordered: list[_Slice],
    datasets: Sequence[Dataset],
    files: Sequence[Path],
    progress: Progress | None,
    workers: int,
) -> np.ndarray:
    first = ordered[0].geometry
    volume = np.empty((len(ordered), first.rows, first.columns), dtype=np.float32)
    position = {(s.dataset_index, s.frame_number): k for k, s in enumerate(ordered)}

    def decode(index: int) -> int:
        ds = datasets[index]
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises ValueError/RuntimeError/... on bad data
            raise InputError(
                f"pixel data of {files[index]} cannot be decoded: {exc}",
                "the file is truncated or uses an unsupported encoding; re-send it, or "
                "install the pylibjpeg plugins for its transfer syntax",
            ) from None
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if frames == 1 and pixels.ndim == 2:
            pixels = pixels[np.newaxis]
        if pixels.ndim != 3:
            raise InputError(
                f"{files[index]} is not a grayscale image (pixel array shape {pixels.shape})",
                "pass single-channel (MONOCHROME) images",
            )
        for number in range(frames):
            frame = number + 1 if frames > 1 or "PerFrameFunctionalGroupsSequence" in ds else None
            key = (index, frame)
            if key not in position:
                continue
            geometry = ordered[position[key]].geometry
            target = volume[position[key]]
            np.multiply(pixels[number], geometry.slope, out=target, casting="unsafe")
            target += geometry.intercept
        return frames

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for frames in pool.map(decode, range(len(datasets))):
            done += frames
            if progress is not None:
                progress(done, len(ordered))
    return volume
