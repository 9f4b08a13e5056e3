"""STOW-RS (PS3.18 10.5): store instances sent as ``multipart/related; type="application/dicom"``.

The body is read as it streams in, each part into a spool file on the storage file system
(:class:`~hub.web.dicomweb.multipart.MultipartReader`, limited by ``[api] max_upload_bytes``
and ``max_files``), then each part goes through :func:`hub.storage.store.store_instance`
(``source="stow"``) exactly as the SCP stores, so routing applies when the series goes quiet.
A part that fails is not written and is reported in FailedSOPSequence with a Failure Reason
(PS3.18 Table I.2-2):

========  ==============================================================================
0xA700    out of resources (free space below ``[storage] min_free_mb``)
0xA900    the data set is unusable: a missing or invalid UID, or a StudyInstanceUID that is
          not the study of the target resource (``POST /studies/{study}``)
0xC000    cannot understand: the part is not a DICOM Part-10 file (or not application/dicom)
0x0110    processing failure (the disk or the database failed)
========  ==============================================================================

Answers (DICOM JSON, Store Instances Response Module): 200 all stored, 202 some failed,
409 none stored; 415 for another media type, 413 over the limits, 400 for a malformed body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

from hub.errors import HubError, InputError
from hub.settings import get_settings
from hub.storage import files
from hub.storage.errors import InvalidUIDError, MissingAttributeError, OutOfSpaceError
from hub.storage.uids import is_valid_uid
from hub.web.auth import Runner
from hub.web.dicomweb.common import base_url, check_uids, dicom_json, instance_url, study_url
from hub.web.dicomweb.multipart import (
    BodyTooLargeError,
    MalformedBodyError,
    MultipartReader,
    ReceivedPart,
    parse_content_type,
)
from hub.web.problems import ProblemError, problem_responses

log = logging.getLogger(__name__)

router = APIRouter(tags=["DICOMweb"])

OUT_OF_RESOURCES = 0xA700
DATA_SET_ERROR = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110

_DOC = {
    200: {"description": "All instances stored (Store Instances Response Module)",
          "content": {"application/dicom+json": {}}},
    202: {"description": "Some instances stored; FailedSOPSequence names the others",
          "content": {"application/dicom+json": {}}},
    409: {"description": "No instance stored; FailedSOPSequence says why",
          "content": {"application/dicom+json": {}}},
    **problem_responses(400, 401, 403, 413, 415),
}


@dataclass(frozen=True)
class Outcome:
    """What happened to one part."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    failure: int | None = None


def _peek(part: ReceivedPart) -> Dataset | None:
    try:
        return dcmread(part.path, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError):
        return None


def _text(ds: Dataset | None, keyword: str) -> str:
    if ds is None:
        return ""
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element
        return ""
    return str(value).strip() if value is not None else ""


def store_part(part: ReceivedPart, study: str | None) -> Outcome:
    """Store one received part (its spool file is taken over or removed)."""
    from hub.storage.store import store_instance

    media, _ = parse_content_type(part.content_type)
    header = _peek(part)
    outcome = Outcome(*(_text(header, k) for k in (
        "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")))
    failure: int | None = None
    if media not in ("", "application/dicom") or header is None:
        failure = CANNOT_UNDERSTAND
    elif study is not None and outcome.study_instance_uid != study:
        failure = DATA_SET_ERROR
    if failure is not None:
        files.remove_quietly(part.path)
        return replace(outcome, failure=failure)
    try:
        store_instance(part.path, source="stow")
    except OutOfSpaceError:
        failure = OUT_OF_RESOURCES
    except (InvalidUIDError, MissingAttributeError) as exc:
        log.info("STOW part refused: %s", exc.cause)
        failure = DATA_SET_ERROR
    except InputError as exc:
        log.info("STOW part refused: %s", exc.cause)
        failure = CANNOT_UNDERSTAND
    except HubError as exc:
        log.warning("STOW part failed: %s", exc.cause)
        failure = PROCESSING_FAILURE
    return replace(outcome, failure=failure)


def _reference(outcome: Outcome) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = (
        outcome.sop_class_uid if is_valid_uid(outcome.sop_class_uid) else ""
    )
    item.ReferencedSOPInstanceUID = (
        outcome.sop_instance_uid if is_valid_uid(outcome.sop_instance_uid) else ""
    )
    return item


def response_body(outcomes: list[Outcome], base: str, study: str | None) -> Dataset:
    """The Store Instances Response Module (PS3.18 Annex I) of ``outcomes``."""
    body = Dataset()
    stored = [o for o in outcomes if o.failure is None]
    target = study or (stored[0].study_instance_uid if stored else None)
    body.RetrieveURL = study_url(base, target) if target else None
    if stored:
        items = []
        for outcome in stored:
            item = _reference(outcome)
            item.RetrieveURL = instance_url(base, outcome.study_instance_uid,
                                            outcome.series_instance_uid,
                                            outcome.sop_instance_uid)
            items.append(item)
        body.ReferencedSOPSequence = items
    failed = []
    for outcome in outcomes:
        if outcome.failure is not None:
            item = _reference(outcome)
            item.FailureReason = outcome.failure
            failed.append(item)
    if failed:
        body.FailedSOPSequence = failed
    return body


async def _store(request: Request, study: str | None) -> Response:
    media, params = parse_content_type(request.headers.get("content-type"))
    inner = params.get("type", "application/dicom").lower()
    if media != "multipart/related" or inner != "application/dicom":
        raise ProblemError(
            415,
            f"STOW-RS takes multipart/related; type=\"application/dicom\", not "
            f"{request.headers.get('content-type')!r}",
            title="Unsupported Media Type",
        )
    limits = get_settings().api
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes:
        raise ProblemError(413, f"the body ({declared} bytes) is larger than the limit of "
                           f"{limits.max_upload_bytes} bytes ([api] max_upload_bytes)")
    try:
        reader = MultipartReader(params.get("boundary", ""), max_bytes=limits.max_upload_bytes,
                                 max_parts=limits.max_files)
        parts = await reader.read(request.stream())
    except BodyTooLargeError as exc:
        raise ProblemError(413, f"{exc} ([api] max_upload_bytes / max_files)") from None
    except MalformedBodyError as exc:
        raise ProblemError(400, str(exc)) from None
    outcomes = []
    try:
        for part in parts:
            outcomes.append(await run_in_threadpool(store_part, part, study))
    finally:
        reader.discard()  # each part's file was taken over or removed; this catches the rest
    if not outcomes:
        raise ProblemError(400, "the body holds no instance")
    failures = sum(1 for o in outcomes if o.failure is not None)
    status = 200 if failures == 0 else 409 if failures == len(outcomes) else 202
    log.info("STOW-RS: %d stored, %d failed", len(outcomes) - failures, failures)
    body = response_body(outcomes, base_url(request), study)
    return dicom_json(body.to_json_dict(), status=status)


@router.post("/studies", summary="STOW-RS: store instances", responses=_DOC)
async def store_instances(request: Request, principal: Runner) -> Response:
    """Store the instances of a ``multipart/related; type="application/dicom"`` body."""
    return await _store(request, None)


@router.post("/studies/{study}", summary="STOW-RS: store instances into a study",
             responses=_DOC)
async def store_study_instances(
    request: Request, principal: Runner,
    study: Annotated[str, Path(description="StudyInstanceUID every instance must have")],
) -> Response:
    """Store instances that all belong to ``study``; others fail with reason 0xA900."""
    check_uids(StudyInstanceUID=study)
    return await _store(request, study)
