"""Segmentation overlays: which SEG frames cover a source image frame, as coloured masks.

A SEG frame is tied to its source frame by the Derivation Image Sequence of its per-frame
functional group (ReferencedSOPInstanceUID, ReferencedFrameNumber), the way the hub's writer
and highdicom record it; a SEG without those references is matched by Image Position
(Patient) within 0.01 mm. BINARY and FRACTIONAL (at half of MaximumFractionalValue) SEGs give
one mask per frame and segment; a LABELMAP SEG (Label Map Segmentation Storage) gives one
mask per label present. Colours come from RecommendedDisplayCIELabValue, else the palette.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.multival import MultiValue

from hub.results.colors import palette_color
from hub.web.dicomweb.frames import frame_array
from hub.web.dicomweb.stored import read_header
from hub.web.render import Mask, lab_to_rgb

#: Segmentation Storage and Label Map Segmentation Storage.
SEG_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


@dataclass(frozen=True)
class Segment:
    """One segment of a SEG: number, label and display colour."""

    number: int
    label: str
    color: tuple[int, int, int]


@dataclass
class Overlay:
    """The frame map of one SEG file."""

    path: Path
    segments: dict[int, Segment]
    labelmap: bool
    fractional_max: int | None
    #: (source SOP Instance UID, source frame) -> [(SEG frame number, segment number)]
    by_reference: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)
    #: rounded Image Position (Patient) -> [(SEG frame number, segment number)]
    by_position: dict[tuple[float, float, float], list[tuple[int, int]]] = field(
        default_factory=dict
    )
    referenced_series: frozenset[str] = frozenset()


def _position_key(position: object) -> tuple[float, float, float] | None:
    try:
        x, y, z = (round(float(v), 2) for v in position)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return (x, y, z)


def load_overlay(path: Path) -> Overlay:
    """The overlay of the SEG at ``path`` (cached while the file is unchanged)."""
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int, size: int) -> Overlay:
    header = read_header(Path(path))
    labelmap = str(header.get("SegmentationType", "")).upper() == "LABELMAP"
    fractional = str(header.get("SegmentationType", "")).upper() == "FRACTIONAL"
    segments = {}
    for item in header.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        lab = item.get("RecommendedDisplayCIELabValue")
        color = lab_to_rgb([int(v) for v in lab]) if lab else palette_color(number)
        segments[number] = Segment(number, str(item.get("SegmentLabel", number)), color)
    overlay = Overlay(
        Path(path), segments, labelmap,
        int(header.get("MaximumFractionalValue", 255)) if fractional else None,
        referenced_series=frozenset(
            str(s.SeriesInstanceUID) for s in header.get("ReferencedSeriesSequence", [])
            if "SeriesInstanceUID" in s
        ),
    )
    frames = header.get("PerFrameFunctionalGroupsSequence") or []
    for index, group in enumerate(frames, start=1):
        _map_frame(overlay, header, group, index)
    return overlay


def _map_frame(overlay: Overlay, header: Dataset, group: Dataset, number: int) -> None:
    identification = group.get("SegmentIdentificationSequence")
    segment = int(identification[0].ReferencedSegmentNumber) if identification else 0
    entry = (number, segment)
    referenced = False
    for derivation in group.get("DerivationImageSequence", []):
        for source in derivation.get("SourceImageSequence", []):
            uid = str(source.get("ReferencedSOPInstanceUID", ""))
            value = source.get("ReferencedFrameNumber")
            frames = (
                [1] if value in (None, "") else list(value) if isinstance(value, MultiValue)
                else [value]
            )
            for frame in frames:
                overlay.by_reference.setdefault((uid, int(frame)), []).append(entry)
                referenced = True
    if not referenced:
        plane = group.get("PlanePositionSequence")
        key = _position_key(plane[0].get("ImagePositionPatient")) if plane else None
        if key is not None:
            overlay.by_position.setdefault(key, []).append(entry)


def source_position(header: Dataset, number: int) -> tuple[float, float, float] | None:
    """The Image Position (Patient) of frame ``number`` of a source image."""
    if "ImagePositionPatient" in header:
        return _position_key(header.ImagePositionPatient)
    frames = header.get("PerFrameFunctionalGroupsSequence") or []
    if number - 1 < len(frames):
        plane = frames[number - 1].get("PlanePositionSequence")
        if plane:
            return _position_key(plane[0].get("ImagePositionPatient"))
    return None


def masks_for(overlay: Overlay, sop_uid: str, number: int, header: Dataset) -> list[Mask]:
    """The coloured masks ``overlay`` draws on frame ``number`` of image ``sop_uid``."""
    entries = overlay.by_reference.get((sop_uid, number))
    if entries is None:
        key = source_position(header, number)
        entries = overlay.by_position.get(key, []) if key is not None else []
    shape = (int(header.Rows), int(header.Columns))
    by_segment: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(shape, dtype=bool))
    for frame_number, segment in entries:
        pixels = frame_array(overlay.path, frame_number)
        if pixels.shape != shape:
            continue
        if overlay.labelmap:
            for label in np.unique(pixels):
                if int(label) in overlay.segments:
                    by_segment[int(label)] |= pixels == label
        elif overlay.fractional_max is not None:
            by_segment[segment] |= pixels >= overlay.fractional_max / 2
        else:
            by_segment[segment] |= pixels > 0
    return [
        Mask(mask, overlay.segments[number_].color if number_ in overlay.segments
             else palette_color(number_))
        for number_, mask in sorted(by_segment.items())
        if mask.any()
    ]


def clear_cache() -> None:
    """Forget cached overlays (tests)."""
    _load.cache_clear()
