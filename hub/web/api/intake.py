"""Checking uploaded files as DICOM and storing them as the SCP would (sync; run in a thread).

``POST /models/{name}/infer`` checks everything before anything is stored: each file is
DICOM Part 10 (else 415), its UIDs are valid (422 naming the attribute), the files are one
series (422, ``SeriesInstanceUID``) and the model's manifest accepts it (422 naming the
attribute, by the same :func:`hub.inference.acceptance.refusal` routing uses, on a pixel-less
series as :class:`hub.routing.rules.SeriesFacts` builds it). ``POST /dicom/upload`` checks
and stores file by file and reports each.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from hub.errors import InputError
from hub.web.api.schemas import FileOutcome
from hub.web.problems import ProblemError
from hub.web.uploads import UploadedFile, looks_like_dicom

log = logging.getLogger(__name__)

#: Threads storing the files of one upload at once.
STORE_THREADS = 4
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError)
#: First word after "series " in an acceptance refusal -> the attribute it names.
_REFUSED_FIELDS = {
    "Modality": "Modality", "BodyPartExamined": "BodyPartExamined",
    "SOPClassUID": "SOPClassUID", "has": "NumberOfSlices",
}


@dataclass
class CheckedFile:
    """An uploaded file that is readable DICOM with valid UIDs."""

    upload: UploadedFile
    header: Dataset
    series_uid: str
    study_uid: str
    sop_uid: str


def not_dicom(upload: UploadedFile, why: str = "") -> ProblemError:
    return ProblemError(
        415,
        f"{upload.name} is not a DICOM file{': ' + why if why else ''}",
        file=upload.name,
        fix="upload DICOM Part-10 files (128-byte preamble and 'DICM') or one zip of them",
    )


def check_file(upload: UploadedFile) -> CheckedFile:
    """Read one file's header; 415 when it is not DICOM, 422 naming a bad UID attribute."""
    from hub.storage.store import read_header

    if not looks_like_dicom(upload.path):
        raise not_dicom(upload, "no 'DICM' marker after the 128-byte preamble")
    try:
        header = dcmread(upload.path, stop_before_pixels=True)
    except _READ_ERRORS as exc:
        raise not_dicom(upload, f"unreadable header ({type(exc).__name__})") from None
    except Exception as exc:  # pydicom raises assorted errors on corrupt headers
        raise not_dicom(upload, f"unreadable header ({type(exc).__name__})") from None
    try:
        index = read_header(upload.path)
    except InputError as exc:
        field = getattr(exc, "field", None)
        if field is None:
            raise not_dicom(upload, exc.cause) from None
        raise ProblemError(422, f"{upload.name}: {exc.cause}", field=field, file=upload.name,
                           fix=exc.fix) from None
    return CheckedFile(
        upload, header, index.series_instance_uid, index.study_instance_uid,
        index.sop_instance_uid,
    )


def one_series(checked: list[CheckedFile]) -> Any:
    """The :class:`~hub.routing.rules.SeriesFacts` of files that must be one series (else 422)."""
    from hub.routing.facts import frames_of
    from hub.routing.rules import SeriesFacts

    counts: dict[str, int] = {}
    for item in checked:
        counts[item.series_uid] = counts.get(item.series_uid, 0) + 1
    if len(counts) > 1:
        listing = ", ".join(f"{uid} ({n} files)" for uid, n in counts.items())
        raise ProblemError(
            422, f"the upload holds {len(counts)} series: {listing}", field="SeriesInstanceUID",
            fix="upload the files of one series per request",
        )
    uids = [item.sop_uid for item in checked]
    if len(set(uids)) != len(uids):
        raise ProblemError(422, "the same SOPInstanceUID occurs in more than one file",
                           field="SOPInstanceUID", fix="remove the duplicate copies")
    studies = {item.study_uid for item in checked}
    if len(studies) > 1:
        raise ProblemError(422, "the files of the series name different StudyInstanceUIDs",
                           field="StudyInstanceUID", fix="re-export the series from the PACS")
    first = checked[0]
    return SeriesFacts(
        series_instance_uid=first.series_uid,
        study_instance_uid=first.study_uid,
        header=first.header,
        slice_count=sum(frames_of(item.header) for item in checked),
    )


def check_accepted(manifest: Any, facts: Any) -> None:
    """422 naming the attribute when the model's manifest does not accept the series."""
    from hub.inference.acceptance import refusal

    reason = refusal(manifest, facts.as_series())
    if reason is None:
        return
    words = reason.split()
    field = _REFUSED_FIELDS.get(words[1], "series") if len(words) > 1 else "series"
    raise ProblemError(
        422, reason, field=field, model=manifest.name,
        fix="choose a model that accepts this series (GET /api/v1/models lists each model's "
        "modalities, body parts and slice range)",
    )


def check_series_for(manifest: Any, files: list[UploadedFile]) -> list[CheckedFile]:
    """Every check of an infer upload; returns the checked files (nothing stored)."""
    checked = [check_file(upload) for upload in files]
    check_accepted(manifest, one_series(checked))
    return checked


def _store_group(group: list[CheckedFile]) -> list[Any]:
    """Store a share of the files in this (pool) thread, then close its connections."""
    from django.db import connections

    from hub.storage.store import store_instance

    try:
        return [store_instance(item.upload.path, source="rest") for item in group]
    finally:
        connections.close_all()


def store_checked(checked: list[CheckedFile]) -> list[Any]:
    """Store checked files (taken over from the spool) with ``source="rest"``, in order.

    Each store waits for its fsyncs, so a series is stored by :data:`STORE_THREADS` threads
    at once; the index serializes their transactions.
    """
    if len(checked) < 2 * STORE_THREADS:
        return _store_group(checked)
    groups = [checked[start::STORE_THREADS] for start in range(STORE_THREADS)]
    with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:
        stored = list(pool.map(_store_group, groups))
    ordered: list[Any] = []
    for index in range(len(checked)):
        ordered.append(stored[index % STORE_THREADS][index // STORE_THREADS])
    return ordered


def store_each(files: list[UploadedFile]) -> list[FileOutcome]:
    """Check and store file by file; a bad file is reported and the others are stored."""
    from hub.errors import HubError
    from hub.storage.errors import OutOfSpaceError
    from hub.storage.store import store_instance
    from hub.web.problems import status_of

    outcomes: list[FileOutcome] = []
    for upload in files:
        try:
            check_file(upload)
            stored = store_instance(upload.path, source="rest")
        except ProblemError as exc:
            outcomes.append(FileOutcome(file=upload.name, status="refused", detail=exc.detail,
                                        http_status=exc.status))
            continue
        except OutOfSpaceError:
            raise
        except HubError as exc:
            outcomes.append(FileOutcome(file=upload.name, status="refused", detail=exc.cause,
                                        http_status=status_of(exc)))
            continue
        outcomes.append(FileOutcome(
            file=upload.name, status="stored", SOPInstanceUID=stored.sop_instance_uid,
            SeriesInstanceUID=stored.series_instance_uid, duplicate=stored.duplicate,
            detail="stored" if not stored.duplicate else "already stored; replaced",
        ))
    return outcomes
