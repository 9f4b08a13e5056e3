"""Find what the hub holds that matches a checked :class:`~hub.dimse.qr_identifier.Query`.

The index (:mod:`hub.storage.models`) deliberately holds no patient identifiers, so a query is
answered in two steps: index columns first (UIDs in SQL; Modality, SeriesDescription,
BodyPartExamined, ModalitiesInStudy and the counts in Python), then, only when a key needs
it, the header of one stored file of each remaining study/series (or of each instance at the
IMAGE level), read without pixel data and limited to the asked tags. Instances the hub wrote
itself (``source="result"``: SEG/SR) are ordinary series of their study and match like any.
Counts (NumberOfStudyRelatedSeries, ...) come from the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag, Tag

from hub.dimse.qr_identifier import (
    INDEX_KEYS,
    LEVELS,
    RANK,
    UNIQUE_KEYS,
    Key,
    Query,
)
from hub.dimse.qr_match import values_of
from hub.storage import files

if TYPE_CHECKING:
    from hub.storage.models import Instance, Series

log = logging.getLogger(__name__)


@dataclass
class Match:
    """One matching entity: its response identifier, and the series or instance it covers."""

    identifier: Dataset
    series: list[Series] = field(default_factory=list)
    instance: Instance | None = None

def find(query: Query, *, retrieve: bool = False) -> Iterator[Match]:
    """The entities matching ``query``, one :class:`Match` each, in the order they arrived.

    With ``retrieve`` only the matching keys count (no file is read just to return a key).
    """
    finder = {
        "PATIENT": _find_patients,
        "STUDY": _find_studies,
        "SERIES": _find_series,
        "IMAGE": _find_images,
    }[query.level]
    return finder(query, retrieve)


def instances_of(match: Match) -> list[Instance]:
    """The stored instances a match covers, in series order then arrival order."""
    if match.instance is not None:
        return [match.instance]
    from hub.storage.models import Instance

    return list(
        Instance.objects.filter(series__in=match.series)
        .select_related("series")
        .order_by("series_id", "id")
    )


# -- the levels --------------------------------------------------------------------------------


def _uids(query: Query, keyword: str) -> list[str] | None:
    """The UID list of ``keyword`` when it is a matching key (for an SQL ``IN``), else None."""
    for key in query.matching():
        if key.keyword == keyword:
            return values_of(key.element.value)
    return None


def _study_groups(query: Query) -> list[tuple[str, list[Series]]]:
    from hub.storage.models import Series

    rows = Series.objects.order_by("id")
    uids = _uids(query, "StudyInstanceUID")
    if uids is not None:
        rows = rows.filter(study_instance_uid__in=uids)
    groups: dict[str, list[Series]] = {}
    for series in rows:
        groups.setdefault(series.study_instance_uid, []).append(series)
    return list(groups.items())


def _study_values(study_uid: str, series: list[Series]) -> dict[str, object]:
    return {
        "StudyInstanceUID": study_uid,
        "ModalitiesInStudy": sorted({s.modality for s in series if s.modality}),
        "NumberOfStudyRelatedSeries": len(series),
        "NumberOfStudyRelatedInstances": sum(s.instance_count for s in series),
    }


def _find_patients(query: Query, retrieve: bool) -> Iterator[Match]:
    patients: dict[str, tuple[Dataset | None, list[list[Series]]]] = {}
    tags = _header_tags(query, extra=("PatientID",))
    for _, series in _study_groups(query):
        header = _read(_representative(series), tags)
        patient_id = " ".join(values_of(header.get("PatientID") if header else None))
        patients.setdefault(patient_id, (header, []))[1].append(series)
    for (header, studies) in patients.values():
        everything = [s for study in studies for s in study]
        values = {
            "NumberOfPatientRelatedStudies": len(studies),
            "NumberOfPatientRelatedSeries": len(everything),
            "NumberOfPatientRelatedInstances": sum(s.instance_count for s in everything),
        }
        identifier = _respond(query, values, lambda h=header: h, retrieve)
        if identifier is not None:
            yield Match(identifier, series=everything)


def _find_studies(query: Query, retrieve: bool) -> Iterator[Match]:
    tags = _header_tags(query)
    for study_uid, series in _study_groups(query):
        values = _study_values(study_uid, series)
        identifier = _respond(
            query, values, lambda s=series: _read(_representative(s), tags), retrieve
        )
        if identifier is not None:
            yield Match(identifier, series=series)


def _find_series(query: Query, retrieve: bool) -> Iterator[Match]:
    from hub.storage.models import Series

    rows = Series.objects.order_by("id")
    for keyword, column in (("SeriesInstanceUID", "series_instance_uid__in"),
                            ("StudyInstanceUID", "study_instance_uid__in")):
        uids = _uids(query, keyword)
        if uids is not None:
            rows = rows.filter(**{column: uids})
    tags = _header_tags(query)
    for series in list(rows):
        values: dict[str, object] = {
            "StudyInstanceUID": series.study_instance_uid,
            "SeriesInstanceUID": series.series_instance_uid,
            "Modality": series.modality,
            "SeriesDescription": series.series_description,
            "BodyPartExamined": series.body_part_examined,
            "NumberOfSeriesRelatedInstances": series.instance_count,
        }
        identifier = _respond(
            query, values, lambda s=series: _read(_representative([s]), tags), retrieve
        )
        if identifier is not None:
            yield Match(identifier, series=[series])


def _find_images(query: Query, retrieve: bool) -> Iterator[Match]:
    from hub.storage.models import Instance

    rows = Instance.objects.select_related("series").order_by("series_id", "id")
    for keyword, column in (("SOPInstanceUID", "sop_instance_uid__in"),
                            ("SOPClassUID", "sop_class_uid__in"),
                            ("SeriesInstanceUID", "series__series_instance_uid__in"),
                            ("StudyInstanceUID", "series__study_instance_uid__in")):
        uids = _uids(query, keyword)
        if uids is not None:
            rows = rows.filter(**{column: uids})
    tags = _header_tags(query)
    for instance in list(rows):
        values: dict[str, object] = {
            "StudyInstanceUID": instance.series.study_instance_uid,
            "SeriesInstanceUID": instance.series.series_instance_uid,
            "SOPInstanceUID": instance.sop_instance_uid,
            "SOPClassUID": instance.sop_class_uid,
            "Modality": instance.series.modality,
        }
        identifier = _respond(query, values, lambda i=instance: _read(i, tags), retrieve)
        if identifier is not None:
            yield Match(identifier, instance=instance)


# -- headers and responses ------------------------------------------------------------------


def _representative(series: list[Series]) -> Instance | None:
    """One stored instance of ``series``, preferring one that did not come from the hub."""
    from hub.storage.models import RESULT_SOURCE, Instance

    rows = Instance.objects.filter(series__in=series).order_by("series_id", "id")
    return rows.exclude(source=RESULT_SOURCE).first() or rows.first()


def _header_tags(query: Query, extra: tuple[str, ...] = ()) -> list[BaseTag]:
    tags = [Tag(0x0008, 0x0005), *(key.element.tag for key in query.keys)]
    return tags + [Tag(keyword) for keyword in extra]


def _read(instance: Instance | None, tags: list[BaseTag]) -> Dataset | None:
    """The asked ``tags`` of the instance's stored file; None when it cannot be read."""
    if instance is None:
        return None
    try:
        return dcmread(files.data_dir() / instance.path, stop_before_pixels=True,
                       specific_tags=tags)
    except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
        log.warning("cannot read stored instance %s for a query: %s",
                    instance.sop_instance_uid, type(exc).__name__)
        return None


def _respond(query: Query, values: dict[str, object], header: Callable[[], Dataset | None],
             retrieve: bool) -> Dataset | None:
    """The response identifier of one entity, or None when a key does not match.

    Keys the index answers are matched first; the file is read (once) only if needed.
    """
    served = INDEX_KEYS[query.level]
    for key in query.matching():
        if key.keyword in served and not key.matcher(values[key.keyword]):  # type: ignore[misc]
            return None
    loaded: Dataset | None = None
    if query.needs_header(retrieve=retrieve):
        loaded = header()
    response = Dataset()
    if loaded is not None and "SpecificCharacterSet" in loaded:
        response.SpecificCharacterSet = loaded.SpecificCharacterSet
    response.QueryRetrieveLevel = query.level
    for key in query.keys:
        element = _answer(query, key, values, loaded)
        if key.matcher is not None and key.keyword not in served:
            if not key.matcher(element.value if element is not None else None):
                return None
        response.add(element if element is not None else _empty(key.element))
    for level in LEVELS[RANK[query.root]:RANK[query.level] + 1]:
        unique = UNIQUE_KEYS[level]
        if unique in response:
            continue
        if unique in values:
            response.add(_element(unique, values[unique]))
        elif loaded is not None and unique in loaded:
            found = loaded[unique]
            response.add(DataElement(found.tag, found.VR, found.value))
    _ensure_charset(response)
    return response


def _answer(query: Query, key: Key, values: dict[str, object],
            header: Dataset | None) -> DataElement | None:
    """The value of ``key`` for an entity, or None when it has none (or is of a lower level)."""
    if RANK[key.level] > RANK[query.level]:
        return None
    keyword = key.keyword
    if keyword == "RetrieveAETitle":
        return _element(keyword, query.ae_title)
    if keyword == "InstanceAvailability":
        return _element(keyword, "ONLINE")
    if keyword in INDEX_KEYS[query.level] and keyword in values:
        return _element(keyword, values[keyword])
    if header is not None and key.element.tag in header:
        found = header[key.element.tag]
        return DataElement(found.tag, found.VR, found.value)
    return None


def _element(keyword: str, value: object) -> DataElement:
    tag = Tag(keyword)
    vr = dictionary_VR(tag)
    if isinstance(value, str) and not value:
        value = None
    return DataElement(tag, vr, value)


def _empty(requested: DataElement) -> DataElement:
    return DataElement(requested.tag, requested.VR, [] if requested.VR == "SQ" else None)


def _ensure_charset(response: Dataset) -> None:
    """Declare UTF-8 when an index value is non-ASCII and no character set was copied."""
    if "SpecificCharacterSet" in response:
        return
    for element in response:
        if isinstance(element.value, str) and not element.value.isascii():
            response.SpecificCharacterSet = "ISO_IR 192"
            return
