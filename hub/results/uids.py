"""Deterministic UIDs for result objects.

Re-running the same model version on the same source series must give the same UIDs, so a PACS
that receives the result twice de-duplicates it instead of showing two copies. Every UID here is
``2.25.`` followed by the decimal value of 128 bits of a SHA-256 over its inputs (PS3.5 B.2).
"""

from __future__ import annotations

import hashlib
import re

from hub.errors import ResultError

#: The kinds of result UID :func:`result_uid` derives.
RESULT_KINDS = ("seg-series", "seg", "sr-series", "sr")

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def is_valid_uid(value: object) -> bool:
    """True when ``value`` is a syntactically valid DICOM UID (digits and dots, <= 64 chars)."""
    return isinstance(value, str) and len(value) <= 64 and bool(_UID.match(value))


def derived_uid(*parts: str) -> str:
    """A valid UID derived from ``parts`` only (same parts, same UID)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def result_uid(source_series_uid: str, model_name: str, model_version: str, kind: str) -> str:
    """The UID of one result object of a model run on a source series.

    Args:
        source_series_uid: SeriesInstanceUID of the series the model ran on.
        model_name: the manifest's ``name``.
        model_version: the manifest's ``version``.
        kind: one of :data:`RESULT_KINDS` (``"seg-series"``, ``"seg"``, ``"sr-series"``,
            ``"sr"``): the new series' SeriesInstanceUID or the object's SOPInstanceUID.

    Returns:
        A ``2.25.`` UID of at most 44 characters.

    Raises:
        ResultError: ``kind`` is unknown or ``source_series_uid`` is not a valid UID.
    """
    if kind not in RESULT_KINDS:
        raise ResultError(
            f"unknown result UID kind {kind!r}", f"use one of {', '.join(RESULT_KINDS)}"
        )
    if not is_valid_uid(source_series_uid):
        raise ResultError(
            f"source SeriesInstanceUID {source_series_uid!r} is not a valid UID",
            "fix the source series' SeriesInstanceUID (digits and dots, at most 64 chars)",
        )
    return derived_uid("result", source_series_uid, model_name, model_version, kind)


def tracking_uid(source_series_uid: str, model_name: str, model_version: str, key: str) -> str:
    """The tracking UID of one measurement group (``key``: segment label or finding key).

    The SEG segment and the SR group describing the same finding share this UID, so viewers
    can link them.
    """
    return derived_uid("tracking", source_series_uid, model_name, model_version, key)
