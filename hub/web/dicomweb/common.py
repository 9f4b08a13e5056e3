"""What the DICOMweb routers share: URLs, UID checks, 404/406 problems, JSON answers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from hub.storage.uids import is_valid_uid
from hub.web.dicomweb.accept import NotAcceptableError
from hub.web.problems import ProblemError

DICOM_JSON = "application/dicom+json"
PREFIX = "/dicomweb"


def base_url(request: Request) -> str:
    """The absolute URL of the DICOMweb root as the client reached it (``.../dicomweb``)."""
    return str(request.base_url).rstrip("/") + PREFIX


def study_url(base: str, study: str) -> str:
    return f"{base}/studies/{study}"


def series_url(base: str, study: str, series: str) -> str:
    return f"{base}/studies/{study}/series/{series}"


def instance_url(base: str, study: str, series: str, instance: str) -> str:
    return f"{base}/studies/{study}/series/{series}/instances/{instance}"


def check_uids(**uids: str) -> None:
    """Answer 400 when a UID in the path does not follow the UID grammar."""
    for name, value in uids.items():
        if not is_valid_uid(value):
            raise ProblemError(
                400,
                f"{name} {value[:80]!r} is not a valid DICOM UID (digits and dots, at most 64 "
                "characters)",
                field=name,
            )


def not_found(what: str) -> ProblemError:
    """The 404 problem for an unknown study, series, instance or frame."""
    return ProblemError(404, f"{what} is not stored in this hub", title="Not Found")


def not_acceptable(error: NotAcceptableError) -> ProblemError:
    """The 406 problem for an Accept header that cannot be met."""
    return ProblemError(406, str(error), title="Not Acceptable")


def dicom_json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An ``application/dicom+json`` answer (exactly that type: dicomweb-client compares it)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=DICOM_JSON, headers=headers)


def warning_header(messages: list[str]) -> dict[str, str]:
    """A ``Warning: 299`` header (PS3.18 8.3.4.4) carrying ``messages``, or none."""
    if not messages:
        return {}
    text = "; ".join(messages).replace('"', "'")
    return {"Warning": f'299 pacs-hub "{text.encode("ascii", "replace").decode()}"'}


def stored_image(path_in_index: str, sop_instance_uid: str) -> tuple[Any, Any, int]:
    """The stored file of an instance, its header and its frame count, as problems when not.

    500 when the indexed file cannot be read, 404 when the instance holds no image frames.
    """
    from hub.web.dicomweb.frames import frame_count
    from hub.web.dicomweb.stored import UnreadableFileError, absolute_path, read_header

    try:
        path = absolute_path(path_in_index)
        header = read_header(path)
    except UnreadableFileError as exc:
        raise ProblemError(500, f"the stored file cannot be read: {exc}") from None
    total = frame_count(header)
    if total == 0:
        raise not_found(f"frames of instance {sop_instance_uid} (it holds no image)")
    return path, header, total
