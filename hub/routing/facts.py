"""Reading :class:`~hub.routing.rules.SeriesFacts` from stored series or from files.

Only headers are read (``stop_before_pixels``): one representative instance per series for
the attributes, and the frame counts of multi-frame instances for the slice count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from hub.errors import HubError, InputError
from hub.routing.rules import SeriesFacts

if TYPE_CHECKING:
    from hub.storage.models import Series

log = logging.getLogger(__name__)

_READ_ERRORS = (OSError, InvalidDicomError, EOFError, ValueError, KeyError, TypeError)


class RoutingError(HubError):
    """A series could not be evaluated or completed."""

    exit_code = 2


def read_header(path: Path) -> Dataset:
    """The header of one DICOM file without its pixel data."""
    return dcmread(path, stop_before_pixels=True)


def frames_of(header: Dataset) -> int:
    """Images in one instance: NumberOfFrames, or 1."""
    try:
        return max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def stored_facts(series: Series) -> SeriesFacts:
    """The facts of a stored series, read from its instances' files.

    The representative header is the first received instance that is not ignored for
    routing. Raises :class:`RoutingError` when the series has no readable instance.
    """
    from hub.storage import files

    instances = list(
        series.instances.filter(ignored_for_routing=False).order_by("id").values_list(
            "path", flat=True
        )
    )
    if not instances:
        raise RoutingError(
            f"series {series.series_instance_uid} has no instance to route",
            "send the series' instances again",
        )
    root = files.data_dir()
    try:
        header = read_header(root / instances[0])
    except _READ_ERRORS as exc:
        raise RoutingError(
            f"series {series.series_instance_uid}: its file {instances[0]} is not readable "
            f"({type(exc).__name__})",
            "check the data directory; send the series again",
        ) from None
    slices = len(instances)
    if frames_of(header) > 1:
        slices = sum(_frames_at(root / path) for path in instances)
    return SeriesFacts(
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid,
        header=header,
        calling_ae=series.calling_ae,
        called_ae=series.called_ae,
        slice_count=slices,
    )


def _frames_at(path: Path) -> int:
    try:
        return frames_of(read_header(path))
    except _READ_ERRORS:
        return 1


@dataclass
class FileSeries:
    """The series found among files given to ``routes test``."""

    facts: list[SeriesFacts] = field(default_factory=list)
    #: Files that are not readable DICOM (name and why).
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def facts_from_paths(
    paths: Iterable[str | Path], *, calling_ae: str = "", called_ae: str = ""
) -> FileSeries:
    """Group the DICOM files under ``paths`` by series; the facts of each, in first-seen order.

    Raises :class:`InputError` for a missing path or when no file is readable DICOM.
    """
    from hub.inference.volume import collect_files

    found = FileSeries()
    headers: dict[str, Dataset] = {}
    slices: dict[str, int] = {}
    for path in collect_files(paths):
        try:
            header = read_header(path)
            uid = str(header.SeriesInstanceUID)
        except (*_READ_ERRORS, AttributeError) as exc:
            found.unreadable.append((path, type(exc).__name__))
            continue
        headers.setdefault(uid, header)
        slices[uid] = slices.get(uid, 0) + frames_of(header)
    if not headers:
        raise InputError(
            "no readable DICOM file with a SeriesInstanceUID among the given paths",
            "give DICOM Part-10 files or folders holding them",
        )
    for uid, header in headers.items():
        found.facts.append(
            SeriesFacts(
                series_instance_uid=uid,
                study_instance_uid=str(header.get("StudyInstanceUID", "")),
                header=header,
                calling_ae=calling_ae,
                called_ae=called_ae,
                slice_count=slices[uid],
            )
        )
    return found
