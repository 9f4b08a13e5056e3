"""WADO-RS (PS3.18 10.4): retrieve instances, metadata, frames and bulk data.

- ``/studies/{s}``, ``/series/{se}``, ``/instances/{i}``: ``multipart/related;
  type="application/dicom"``, files streamed from disk one chunk at a time (a compressed file
  is decompressed, one instance at a time, only when the Accept header rules out its syntax);
- ``.../metadata``: DICOM JSON of the stored headers, large binaries and Pixel Data as
  ``BulkDataURI`` (``.../bulkdata/{tag path}``), plus AvailableTransferSyntaxUID;
- ``.../frames/{list}``: native frames, or the stored fragments (see :mod:`.accept`);
- ``.../bulkdata/{path}``: one binary element (Pixel Data: all frames, as ``/frames``).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian

from hub.web.auth import Viewer
from hub.web.dicomweb import catalog
from hub.web.dicomweb.accept import (
    DICOM,
    OCTET,
    NotAcceptableError,
    accepts_json,
    accepts_octet_parts,
    plan_frames,
    plan_instances,
)
from hub.web.dicomweb.catalog import InstanceEntry
from hub.web.dicomweb.common import (
    base_url,
    check_uids,
    dicom_json,
    instance_url,
    not_acceptable,
    not_found,
    stored_image,
)
from hub.web.dicomweb.dicomjson import element_at, pixel_data_reference, to_dicom_json
from hub.web.dicomweb.frames import FrameError, parse_frame_list, read_frames
from hub.web.dicomweb.multipart import Part, content_type, new_boundary, stream_parts
from hub.web.dicomweb.stored import UnreadableFileError, absolute_path, read_header
from hub.web.problems import ProblemError, problem_responses

router = APIRouter(tags=["DICOMweb"])
StudyUID = Annotated[str, Path(description="StudyInstanceUID")]
SeriesUID = Annotated[str, Path(description="SeriesInstanceUID")]
InstanceUID = Annotated[str, Path(description="SOPInstanceUID")]
_MULTIPART_DOC = {
    200: {"description": "multipart/related body", "content": {"multipart/related": {}}},
    **problem_responses(400, 401, 403, 404, 406),
}
_JSON_DOC = {
    200: {"description": "DICOM JSON", "content": {"application/dicom+json": {}}},
    **problem_responses(400, 401, 403, 404, 406),
}


def instances_of(study: str, series: str | None = None) -> list[InstanceEntry]:
    """The stored instances of a study (or one of its series); 404 when there are none."""
    check_uids(StudyInstanceUID=study, **({"SeriesInstanceUID": series} if series else {}))
    found = catalog.find_instances([study], [series] if series else [])
    if not found:
        raise not_found(f"series {series} of study {study}" if series else f"study {study}")
    return found


def one_instance(study: str, series: str, instance: str) -> InstanceEntry:
    """One stored instance addressed by its three UIDs; 404 when unknown."""
    check_uids(StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=instance)
    found = catalog.find_instances([study], [series], [instance])
    if not found:
        raise not_found(f"instance {instance} of series {series} in study {study}")
    return found[0]


def _syntax(entry: InstanceEntry) -> str:
    return entry.transfer_syntax_uid or ExplicitVRLittleEndian


def _retrieve(request: Request, entries: list[InstanceEntry], *, single: bool) -> Response:
    try:
        plan = plan_instances(request.headers.get("accept"), single_allowed=single)
    except NotAcceptableError as exc:
        raise not_acceptable(exc) from None
    chosen = [(entry, plan.syntax_for(_syntax(entry))) for entry in entries]
    refused = sorted({_syntax(entry) for entry, syntax in chosen if syntax is None})
    if refused:
        raise not_acceptable(NotAcceptableError(
            f"instances are stored in {', '.join(refused)}; ask for transfer-syntax=* or "
            "one of the stored syntaxes"
        ))
    base = base_url(request)
    if not plan.multipart:
        entry, syntax = chosen[0]
        if syntax == _syntax(entry):
            return FileResponse(absolute_path(entry.path),
                                media_type=f"{DICOM}; transfer-syntax={syntax}")
        return Response(_decompressed(entry), media_type=f"{DICOM}; transfer-syntax={syntax}")

    def parts() -> Iterator[Part]:
        for entry, syntax in chosen:
            location = instance_url(base, entry.study_instance_uid,
                                    entry.series_instance_uid, entry.sop_instance_uid)
            kind = f"{DICOM}; transfer-syntax={syntax}"
            if syntax == _syntax(entry):
                yield Part(kind, path=absolute_path(entry.path), location=location)
            else:
                yield Part(kind, data=_decompressed(entry), location=location)

    boundary = new_boundary()
    return StreamingResponse(stream_parts(parts(), boundary),
                             media_type=content_type(DICOM, boundary))


def _decompressed(entry: InstanceEntry) -> bytes:
    ds = dcmread(absolute_path(entry.path))
    try:
        ds.decompress()
    except Exception as exc:  # decoder plugins raise many kinds
        raise ProblemError(406, f"instance {entry.sop_instance_uid} cannot be decompressed "
                           f"({type(exc).__name__}); ask for transfer-syntax=*") from None
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _metadata(request: Request, entries: list[InstanceEntry]) -> Response:
    if not accepts_json(request.headers.get("accept")):
        raise not_acceptable(NotAcceptableError(
            f"cannot answer Accept {request.headers.get('accept')!r}: metadata is available "
            "as application/dicom+json"
        ))
    base = base_url(request)
    out: list[dict[str, Any]] = []
    for entry in entries:
        try:
            header = read_header(absolute_path(entry.path))
        except UnreadableFileError:
            continue
        prefix = instance_url(base, entry.study_instance_uid, entry.series_instance_uid,
                              entry.sop_instance_uid)
        body = to_dicom_json(header, lambda path, p=prefix: f"{p}/bulkdata/{path}")
        body["00083002"] = {"vr": "UI", "Value": [_syntax(entry)]}
        pixels = pixel_data_reference(header, f"{prefix}/bulkdata/7FE00010")
        if pixels is not None:
            body["7FE00010"] = pixels
        out.append(dict(sorted(body.items())))
    if not out:
        raise not_found("no readable instance")
    return dicom_json(out)


def _frames(request: Request, entry: InstanceEntry, frames: str | None) -> Response:
    path, header, total = stored_image(entry.path, entry.sop_instance_uid)
    try:
        numbers = parse_frame_list(frames, total) if frames else list(range(1, total + 1))
    except LookupError as exc:
        raise not_found(str(exc)) from None
    except ValueError as exc:
        raise ProblemError(400, str(exc)) from None
    stored = _syntax(entry)
    try:
        plan = plan_frames(request.headers.get("accept"), stored)
    except NotAcceptableError as exc:
        raise not_acceptable(exc) from None
    part_type = plan.part_content_type(stored)
    produced = read_frames(path, header, numbers, plan.kind)
    try:
        first = next(produced)  # errors before the answer starts become problems
    except FrameError as exc:
        raise ProblemError(406 if plan.kind == "native" else 500, str(exc)) from None
    if not plan.multipart:
        if len(numbers) != 1:
            raise not_acceptable(NotAcceptableError(
                "a single application/octet-stream body holds one frame; ask for "
                'multipart/related; type="application/octet-stream" to get several'
            ))
        return Response(first, media_type=part_type)
    boundary = new_boundary()
    parts = (Part(part_type, data=data) for data in itertools.chain([first], produced))
    return StreamingResponse(stream_parts(parts, boundary),
                             media_type=content_type(plan.part_type, boundary))


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study", responses=_MULTIPART_DOC)
def retrieve_study(request: Request, principal: Viewer, study: StudyUID) -> Response:
    """Every instance of the study as ``multipart/related; type="application/dicom"``."""
    return _retrieve(request, instances_of(study), single=False)


@router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series",
            responses=_MULTIPART_DOC)
def retrieve_series(request: Request, principal: Viewer, study: StudyUID,
                    series: SeriesUID) -> Response:
    """Every instance of the series as ``multipart/related; type="application/dicom"``."""
    return _retrieve(request, instances_of(study, series), single=False)


@router.get("/studies/{study}/series/{series}/instances/{instance}",
            summary="WADO-RS: retrieve an instance", responses=_MULTIPART_DOC)
def retrieve_instance(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                      instance: InstanceUID) -> Response:
    """The instance as ``multipart/related; type="application/dicom"`` (or bare
    ``application/dicom`` when that is what Accept asks for)."""
    return _retrieve(request, [one_instance(study, series, instance)], single=True)


@router.get("/studies/{study}/metadata", summary="WADO-RS: study metadata",
            responses=_JSON_DOC)
def study_metadata(request: Request, principal: Viewer, study: StudyUID) -> Response:
    """DICOM JSON of every instance of the study (bulk data by reference)."""
    return _metadata(request, instances_of(study))


@router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: series metadata",
            responses=_JSON_DOC)
def series_metadata(request: Request, principal: Viewer, study: StudyUID,
                    series: SeriesUID) -> Response:
    """DICOM JSON of every instance of the series (bulk data by reference)."""
    return _metadata(request, instances_of(study, series))


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata",
            summary="WADO-RS: instance metadata", responses=_JSON_DOC)
def instance_metadata(request: Request, principal: Viewer, study: StudyUID,
                      series: SeriesUID, instance: InstanceUID) -> Response:
    """DICOM JSON of the instance, in an array of one (bulk data by reference)."""
    return _metadata(request, [one_instance(study, series, instance)])


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            summary="WADO-RS: retrieve frames", responses=_MULTIPART_DOC)
def retrieve_frames(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                    instance: InstanceUID, frames: str) -> Response:
    """Frames ``frames`` (``1`` or ``1,3,5``): native little-endian as
    ``multipart/related; type="application/octet-stream"``, or the stored compressed
    fragments when Accept allows the stored syntax (``transfer-syntax=*``)."""
    return _frames(request, one_instance(study, series, instance), frames)


@router.get("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path:path}",
            summary="WADO-RS: retrieve bulk data", responses=_MULTIPART_DOC)
def retrieve_bulkdata(request: Request, principal: Viewer, study: StudyUID,
                      series: SeriesUID, instance: InstanceUID, path: str) -> Response:
    """The binary element a metadata ``BulkDataURI`` names (Pixel Data: all frames)."""
    entry = one_instance(study, series, instance)
    if path.strip("/").upper() in ("7FE00010", "7FE00008", "7FE00009"):
        return _frames(request, entry, None)
    try:
        header = read_header(absolute_path(entry.path))
    except UnreadableFileError as exc:
        raise ProblemError(500, f"the stored file cannot be read: {exc}") from None
    element = element_at(header, path)
    if element is None or element.value is None:
        raise not_found(f"bulk data {path!r} of instance {instance}")
    if not accepts_octet_parts(request.headers.get("accept")):
        raise not_acceptable(NotAcceptableError(
            'bulk data is available as multipart/related; type="application/octet-stream"'
        ))
    boundary = new_boundary()
    return StreamingResponse(
        stream_parts([Part(OCTET, data=bytes(element.value))], boundary),
        media_type=content_type(OCTET, boundary),
    )
