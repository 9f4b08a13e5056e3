"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

Candidates come from the index (UID lists, ModalitiesInStudy / Modality, SOPClassUID); the
other keys are matched against attributes read from one stored file per study or series (or
each instance), through the header cache. Study results carry ModalitiesInStudy and the
series/instance counts, series results NumberOfSeriesRelatedInstances (OHIF's study list is
empty without them). No match answers ``200 []`` (CP-2473; OHIF's dicomweb-client logs an
error on ``204``). The hub's own SEG/SR series are ordinary series of their study.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.tag import BaseTag, Tag

from hub.web.auth import Viewer
from hub.web.dicomweb import catalog
from hub.web.dicomweb.common import (
    base_url,
    check_uids,
    dicom_json,
    instance_url,
    series_url,
    study_url,
    warning_header,
)
from hub.web.dicomweb.matching import (
    DEFAULTS,
    MAX_RESULTS,
    Level,
    Query,
    QueryError,
    is_binary,
    level_of,
    parse_query,
)
from hub.web.dicomweb.stored import UnreadableFileError, absolute_path, read_header
from hub.web.problems import ProblemError, problem_responses

log = logging.getLogger(__name__)

router = APIRouter(tags=["DICOMweb"])
StudyUID = Annotated[str, Path(description="StudyInstanceUID", examples=["1.2.3.4"])]
SeriesUID = Annotated[str, Path(description="SeriesInstanceUID", examples=["1.2.3.4.5"])]

_SEARCH_DOC = {
    200: {
        "description": "Matching entities as DICOM JSON (an empty array when none match)",
        "content": {"application/dicom+json": {"example": [{"0020000D": {"vr": "UI",
                                                            "Value": ["1.2.3.4"]}}]}},
    },
    **problem_responses(400, 401, 403),
}


def _param(name: str, description: str, example: str, kind: str = "string") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == "integer":
        schema["minimum"] = 0
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description, "example": int(example) if kind == "integer" else example}


#: Documented in OpenAPI; any attribute keyword or tag (``00100010``) may be used likewise.
_QUERY_PARAMS = {"parameters": [
    _param("PatientName", "person name; * and ? wildcards, case-insensitive", "Doe*"),
    _param("PatientID", "patient ID; wildcards allowed", "PH-*"),
    _param("StudyDate", "a date or range: 20260101, 20260101-20261231, -20261231", "20260101-"),
    _param("AccessionNumber", "accession number; wildcards allowed", "ACC*"),
    _param("ModalitiesInStudy", "studies with a series of any of these (comma separated)", "CT"),
    _param("Modality", "series modality (studies: as ModalitiesInStudy)", "SEG"),
    _param("StudyInstanceUID", "one or more UIDs (comma separated)", "1.2.3.4"),
    _param("SeriesInstanceUID", "one or more UIDs (comma separated)", "1.2.3.4.5"),
    _param("limit", "at most this many results", "25", "integer"),
    _param("offset", "skip this many results", "0", "integer"),
    _param("includefield", "extra attributes to return (keywords or tags, or 'all')",
           "00081030,00080060"),
    _param("fuzzymatching", "accepted and ignored", "false"),
]}


@dataclass(frozen=True)
class Candidate:
    """An entity found in the index: the file to read and the attributes computed for it."""

    path: str
    computed: Dataset


class _Source:
    """Attribute lookup over computed attributes first, then the file's header."""

    def __init__(self, computed: Dataset, header: Dataset) -> None:
        self.computed, self.header = computed, header

    def get(self, tag: BaseTag) -> DataElement | None:
        element = self.computed.get(tag)
        return element if element is not None else self.header.get(tag)


def _computed(**values: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        if value is not None and value != "":
            setattr(ds, keyword, value)
    ds.InstanceAvailability = "ONLINE"
    return ds


def _uids(query: Query, keyword: str) -> list[str]:
    key = query.key(keyword)
    return key.uids() if key is not None else []


def _search(
    request: Request, level: Level, scope: tuple[Level, ...], study: str | None = None,
    series: str | None = None,
) -> Response:
    """Run a search at ``level``; ``scope`` lists the levels whose attributes are returned."""
    try:
        query = parse_query(request.query_params.multi_items(), level)
    except QueryError as exc:
        raise ProblemError(400, str(exc), title="Bad Request") from None
    base = base_url(request)
    studies = [study] if study else _uids(query, "StudyInstanceUID")
    served: set[str] = {"StudyInstanceUID", "InstanceAvailability", "RetrieveURL"}
    candidates: list[Candidate]
    if level == "study":
        modalities = _uids(query, "ModalitiesInStudy") + _uids(query, "Modality")
        served |= {"ModalitiesInStudy", "Modality"}
        candidates = [
            Candidate(e.representative, _computed(
                StudyInstanceUID=e.study_instance_uid, ModalitiesInStudy=list(e.modalities),
                NumberOfStudyRelatedSeries=e.series_count,
                NumberOfStudyRelatedInstances=e.instance_count,
                RetrieveURL=study_url(base, e.study_instance_uid),
            ))
            for e in catalog.find_studies(studies, modalities)
        ]
    elif level == "series":
        series_uids = _uids(query, "SeriesInstanceUID")
        served |= {"SeriesInstanceUID", "Modality"}
        candidates = [
            Candidate(e.representative, _computed(
                StudyInstanceUID=e.study_instance_uid, SeriesInstanceUID=e.series_instance_uid,
                Modality=e.modality, NumberOfSeriesRelatedInstances=e.instance_count,
                RetrieveURL=series_url(base, e.study_instance_uid, e.series_instance_uid),
            ))
            for e in catalog.find_series(studies, series_uids, _uids(query, "Modality"))
        ]
    else:
        served |= {"SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}
        candidates = [
            Candidate(e.path, _computed(
                StudyInstanceUID=e.study_instance_uid, SeriesInstanceUID=e.series_instance_uid,
                SOPInstanceUID=e.sop_instance_uid, SOPClassUID=e.sop_class_uid or None,
                RetrieveURL=instance_url(
                    base, e.study_instance_uid, e.series_instance_uid, e.sop_instance_uid
                ),
            ))
            for e in catalog.find_instances(
                studies, [series] if series else _uids(query, "SeriesInstanceUID"),
                _uids(query, "SOPInstanceUID"), _uids(query, "SOPClassUID"),
            )
        ]
    results, warnings = _answer(query, level, scope, candidates, served)
    return dicom_json(results, headers=warning_header(query.warnings + warnings))


def _answer(
    query: Query, level: Level, scope: tuple[Level, ...], candidates: list[Candidate],
    served: set[str],
) -> tuple[list[dict[str, Any]], list[str]]:
    filtering = bool(query.filters(served))
    limit = min(query.limit or MAX_RESULTS, MAX_RESULTS)

    def page(items: list[Any]) -> list[Any]:
        return items[query.offset : query.offset + limit]

    warnings = []
    if not filtering:
        total = len(candidates) - query.offset
        candidates = page(candidates)
    matched: list[_Source] = []
    for candidate in candidates:
        try:
            header = read_header(absolute_path(candidate.path))
        except UnreadableFileError as exc:
            log.warning("QIDO skips an entity whose file cannot be read: %s", exc)
            continue
        source = _Source(candidate.computed, header)
        if not filtering or query.matches(source, served):
            matched.append(source)
    if filtering:
        total = len(matched) - query.offset
        matched = page(matched)
    if not query.limit and total > MAX_RESULTS:
        warnings.append(f"only the first {MAX_RESULTS} of {total} results are returned; "
                        "use limit and offset to page")
    tags = _return_tags(query, scope)
    return [_response(source, tags, query, level, scope) for source in matched], warnings


def _return_tags(query: Query, scope: tuple[Level, ...]) -> set[BaseTag]:
    tags: set[BaseTag] = set(query.include)
    for level in scope:
        tags.update(Tag(tag_for_keyword(keyword)) for keyword in DEFAULTS[level])
    tags.update(key.tag for key in query.keys)
    return tags


def _response(
    source: _Source, tags: set[BaseTag], query: Query, level: Level, scope: tuple[Level, ...]
) -> dict[str, Any]:
    wanted = set(tags)
    if query.include_all:
        for ds in (source.header, source.computed):
            for element in ds:
                if element.tag.group in (0x0002, 0x7FE0) or element.tag.is_private:
                    continue
                if level == "instance" or level_of(element.keyword) in scope:
                    wanted.add(element.tag)
    out = Dataset()
    for tag in sorted(wanted):
        element = source.get(tag)
        if element is None or is_binary(element.VR):
            continue
        out.add(copy.deepcopy(element) if element.VR == "SQ" else element)
    return out.to_json_dict(bulk_data_threshold=1 << 62, suppress_invalid_tags=True)


@router.get("/studies", summary="QIDO-RS: search for studies", responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_studies(request: Request, principal: Viewer) -> Response:
    """Studies matching the query (PatientName, PatientID, StudyDate, AccessionNumber,
    ModalitiesInStudy, StudyInstanceUID, ...; ``limit``, ``offset``, ``includefield``)."""
    return _search(request, "study", ("study",))


@router.get("/series", summary="QIDO-RS: search for series in all studies",
            responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_all_series(request: Request, principal: Viewer) -> Response:
    """Series of any study matching the query; results include the study attributes."""
    return _search(request, "series", ("study", "series"))


@router.get("/studies/{study}/series", summary="QIDO-RS: search for series of a study",
            responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_series(request: Request, principal: Viewer, study: StudyUID) -> Response:
    """Series of one study matching the query (Modality, SeriesInstanceUID, ...)."""
    check_uids(StudyInstanceUID=study)
    return _search(request, "series", ("series",), study=study)


@router.get("/instances", summary="QIDO-RS: search for instances in all studies",
            responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_all_instances(request: Request, principal: Viewer) -> Response:
    """Instances of any study matching the query, with study and series attributes."""
    return _search(request, "instance", ("study", "series", "instance"))


@router.get("/studies/{study}/instances", summary="QIDO-RS: search for instances of a study",
            responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_study_instances(request: Request, principal: Viewer, study: StudyUID) -> Response:
    """Instances of one study matching the query, with series attributes."""
    check_uids(StudyInstanceUID=study)
    return _search(request, "instance", ("series", "instance"), study=study)


@router.get("/studies/{study}/series/{series}/instances",
            summary="QIDO-RS: search for instances of a series", responses=_SEARCH_DOC,
            openapi_extra=_QUERY_PARAMS)
def search_series_instances(
    request: Request, principal: Viewer, study: StudyUID, series: SeriesUID
) -> Response:
    """Instances of one series matching the query (SOPInstanceUID, InstanceNumber, ...)."""
    check_uids(StudyInstanceUID=study, SeriesInstanceUID=series)
    return _search(request, "instance", ("instance",), study=study, series=series)
