"""``POST /api/v1/dicom/parse`` (a header as DICOM JSON) and ``POST /api/v1/dicom/upload``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hub.web.api.infer import UPLOAD_BODY
from hub.web.api.schemas import UploadReport
from hub.web.auth import Runner, Viewer
from hub.web.problems import ProblemError, problem, problem_responses
from hub.web.uploads import UploadedFile, receive_multipart, receive_upload, spool_folder

log = logging.getLogger(__name__)
router = APIRouter(tags=["dicom"])

#: Binary values longer than this (bytes) are left out of the parsed header.
INLINE_BINARY_LIMIT = 1024

PARSE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary",
                                            "description": "one DICOM Part-10 file"}},
                    "required": ["file"],
                }
            }
        },
    }
}
DICOM_JSON_EXAMPLE = {
    "00080060": {"vr": "CS", "Value": ["CT"]},
    "0020000E": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.8.498.1"]},
    "00280010": {"vr": "US", "Value": [512]},
}


def _drop_empty_bulk(value: Any) -> Any:
    """Remove the ``BulkDataURI: ""`` markers left for omitted binary values."""
    if isinstance(value, dict):
        if value.get("BulkDataURI") == "":
            del value["BulkDataURI"]
        for item in value.values():
            _drop_empty_bulk(item)
    elif isinstance(value, list):
        for item in value:
            _drop_empty_bulk(item)
    return value


def header_json(upload: UploadedFile) -> dict[str, Any]:
    """The file's data set (without pixel data and long binary values) as DICOM JSON (sync)."""
    from pydicom import dcmread

    from hub.web.api.intake import _READ_ERRORS, not_dicom
    from hub.web.uploads import looks_like_dicom

    if not looks_like_dicom(upload.path):
        raise not_dicom(upload, "no 'DICM' marker after the 128-byte preamble")
    try:
        dataset = dcmread(upload.path, stop_before_pixels=True)
        document = dataset.to_json_dict(
            bulk_data_threshold=INLINE_BINARY_LIMIT,
            bulk_data_element_handler=lambda element: "",
            suppress_invalid_tags=True,
        )
    except _READ_ERRORS as exc:
        raise not_dicom(upload, f"unreadable header ({type(exc).__name__})") from None
    except Exception as exc:  # pydicom raises assorted errors on corrupt headers
        raise not_dicom(upload, f"unreadable header ({type(exc).__name__})") from None
    return _drop_empty_bulk(document)


@router.post(
    "/dicom/parse",
    summary="One DICOM file's header as DICOM JSON (PS3.18 F)",
    openapi_extra=PARSE_BODY,
    responses={
        200: {"content": {"application/dicom+json": {"example": DICOM_JSON_EXAMPLE}},
              "description": "the data set as DICOM JSON, without pixel data"},
        **problem_responses(400, 401, 403, 413, 415, 422),
    },
)
async def parse(request: Request, principal: Viewer) -> JSONResponse:
    """Upload one DICOM Part-10 file (a multipart part named ``file``); get its data set as
    DICOM JSON without pixel data and without binary values longer than 1 KiB (their
    attributes are listed with their VR only). Nothing is stored. 415 when it is not DICOM.
    Needs ``view_studies``."""
    with spool_folder() as folder:
        files = await receive_multipart(request, folder)
        if len(files) != 1:
            raise ProblemError(422, f"the upload holds {len(files)} files; send exactly one",
                               field="file")
        document = await run_in_threadpool(header_json, files[0])
    return JSONResponse(document, media_type="application/dicom+json")


def store_upload(files: list[UploadedFile]) -> UploadReport:
    from hub.web.api.intake import store_each
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    outcomes = store_each(files)
    stored = [o for o in outcomes if o.status == "stored"]
    series = list(dict.fromkeys(o.SeriesInstanceUID for o in stored if o.SeriesInstanceUID))
    return UploadReport(stored=len(stored), refused=len(outcomes) - len(stored),
                        series=series, files=outcomes)


@router.post(
    "/dicom/upload",
    summary="Store DICOM files in the hub as the SCP would",
    openapi_extra=UPLOAD_BODY,
    response_model=UploadReport,
    responses={
        202: {"model": UploadReport, "description": "some files were refused, the rest stored"},
        **problem_responses(400, 401, 403, 413, 415, 422, 507),
    },
)
async def upload(request: Request, principal: Runner) -> JSONResponse:
    """Upload DICOM files (multipart parts named ``files``, or zips of them); each is stored
    like a C-STORE (``source="rest"``), and routing applies once the series goes quiet.
    200: all stored; 202: some refused (each file's outcome says why); when none is stored,
    a problem document (415 when no file was DICOM, else 422) with the outcomes. Needs
    ``run_inference``."""
    with spool_folder() as folder:
        received = await receive_upload(request, folder)
        report = await run_in_threadpool(store_upload, received.files)
    if report.stored == 0:
        statuses = {o.http_status for o in report.files}
        status = statuses.pop() if len(statuses) == 1 else 422
        return problem(status or 422, detail=f"none of the {report.refused} file(s) was stored",
                       files=[o.model_dump(mode="json") for o in report.files])
    body = report.model_dump(mode="json")
    return JSONResponse(body, status_code=200 if report.refused == 0 else 202)
