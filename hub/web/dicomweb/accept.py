"""Content negotiation for WADO-RS (PS3.18 8.7): parsing ``Accept`` and choosing what to send.

Retrieve resources answer ``multipart/related; type="application/dicom"``; a ``transfer-syntax``
parameter of ``*`` or the stored syntax gets the file as stored, none or Explicit VR Little
Endian gets compressed files decompressed. Frames answer ``multipart/related;
type="application/octet-stream"`` with native frames, or the stored compressed fragments as
they are when the request allows the stored syntax (``transfer-syntax=*``, its UID, or its
image media type such as ``image/dicom-rle``). Anything that cannot be met is a 406.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydicom.uid import UID, ExplicitVRLittleEndian

#: The media type of each encapsulated transfer syntax's frames (PS3.18 Table 8.7.3-5).
FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}
_ALIASES = {"image/x-dicom-rle": "image/dicom-rle", "image/x-jls": "image/jls"}
OCTET = "application/octet-stream"
DICOM = "application/dicom"


class NotAcceptableError(Exception):
    """No acceptable representation (answered 406 naming what was asked and what exists)."""


@dataclass(frozen=True)
class MediaRange:
    """One entry of an ``Accept`` header."""

    media_type: str
    type: str | None = None
    transfer_syntax: str | None = None
    q: float = 1.0

    @property
    def inner(self) -> str:
        """The media type of the parts (``type=``), or the range itself when not multipart."""
        if self.media_type in ("multipart/related", "multipart/*"):
            return self.type or "*/*"
        return self.media_type


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    return [part.strip() for part in re.split(f'{separator}(?=(?:[^"]*"[^"]*")*[^"]*$)', text)]


def parse_accept(header: str | None) -> list[MediaRange]:
    """The ranges of an ``Accept`` header, best first (``*/*`` when absent or empty)."""
    ranges: list[MediaRange] = []
    for entry in _split(header or "", ","):
        if not entry:
            continue
        media, *params = _split(entry, ";")
        values: dict[str, str] = {}
        for param in params:
            name, _, value = param.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        try:
            q = float(values.get("q", "1"))
        except ValueError:
            q = 1.0
        inner = values.get("type")
        inner = _ALIASES.get(inner.lower(), inner.lower()) if inner else None
        media = media.lower()
        ranges.append(
            MediaRange(_ALIASES.get(media, media), inner, values.get("transfer-syntax"), q)
        )
    ranges = [r for r in ranges if r.q > 0]
    ranges.sort(key=lambda r: -r.q)
    return ranges or [MediaRange("*/*")]


def _is_multipart(r: MediaRange) -> bool:
    return r.media_type in ("multipart/related", "multipart/*", "*/*")


def _covers(pattern: str, media_type: str) -> bool:
    if pattern in ("*/*", media_type):
        return True
    return pattern.endswith("/*") and media_type.startswith(pattern[:-1])


@dataclass(frozen=True)
class InstancePlan:
    """How to send whole instances: as stored, or decompressed to Explicit VR Little Endian."""

    multipart: bool
    accept_stored: frozenset[str] | None  # None: any stored syntax

    def syntax_for(self, stored: str) -> str | None:
        """The syntax to send a file stored in ``stored`` in (None: cannot)."""
        if self.accept_stored is None or stored in self.accept_stored:
            return stored
        if not UID(stored).is_encapsulated:
            return stored  # native files are sent as they are
        if ExplicitVRLittleEndian in self.accept_stored:
            return ExplicitVRLittleEndian
        return None


def plan_instances(header: str | None, *, single_allowed: bool) -> InstancePlan:
    """The plan for a retrieve of whole instances; raises :class:`NotAcceptableError`."""
    for r in parse_accept(header):
        if r.media_type == DICOM and single_allowed:
            return InstancePlan(False, _syntaxes(r.transfer_syntax))
        if _is_multipart(r) and _covers(r.inner, DICOM):
            return InstancePlan(True, _syntaxes(r.transfer_syntax))
    raise NotAcceptableError(
        f"cannot answer Accept {header!r}: this resource is available as "
        'multipart/related; type="application/dicom"'
    )


def _syntaxes(value: str | None) -> frozenset[str] | None:
    if value == "*":
        return None
    return frozenset({value or ExplicitVRLittleEndian})


@dataclass(frozen=True)
class FramePlan:
    """How to send frames: ``native`` (decoded) or ``stored`` (fragments as they are)."""

    kind: Literal["native", "stored"]
    #: The ``type`` of the multipart answer and of each part (before ``transfer-syntax``).
    part_type: str
    multipart: bool = True

    def part_content_type(self, stored: str) -> str:
        """The ``Content-Type`` of each part."""
        syntax = stored if self.kind == "stored" else ExplicitVRLittleEndian
        if self.kind == "stored" and not UID(stored).is_encapsulated:
            syntax = ExplicitVRLittleEndian
        return f"{self.part_type}; transfer-syntax={syntax}"


def plan_frames(header: str | None, stored: str) -> FramePlan:
    """The plan for frames of an instance stored in ``stored``; :class:`NotAcceptableError`."""
    compressed = UID(stored).is_encapsulated
    stored_type = FRAME_MEDIA_TYPES.get(stored, OCTET) if compressed else OCTET
    for r in parse_accept(header):
        if r.media_type == OCTET:
            return FramePlan("native", OCTET, multipart=False)
        if not _is_multipart(r):
            continue
        inner = r.inner
        syntax = r.transfer_syntax
        if inner in ("*/*", OCTET, "application/*"):
            if syntax in (None, ExplicitVRLittleEndian) or (syntax == stored and not compressed):
                return FramePlan("native", OCTET)
            if syntax in ("*", stored):
                return FramePlan("stored", OCTET)
            continue
        if compressed and _covers(inner, stored_type) and syntax in (None, "*", stored):
            return FramePlan("stored", stored_type)
    what = f'type="{stored_type}" (stored) or ' if compressed else ""
    raise NotAcceptableError(
        f"cannot answer Accept {header!r}: frames of this instance are available as "
        f'multipart/related; {what}type="application/octet-stream"'
    )


def plan_rendered(header: str | None, fmt: str | None = None) -> str:
    """``image/jpeg`` or ``image/png`` for a rendered resource; :class:`NotAcceptableError`."""
    if fmt:
        chosen = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png"}.get(fmt.lower())
        if chosen:
            return chosen
        raise NotAcceptableError(f"format {fmt!r} is not available: use jpeg or png")
    for r in parse_accept(header):
        if r.media_type in ("*/*", "image/*", "image/jpeg"):
            return "image/jpeg"
        if r.media_type == "image/png":
            return "image/png"
    raise NotAcceptableError(
        f"cannot answer Accept {header!r}: rendered images are available as image/jpeg "
        "or image/png"
    )


def accepts_octet_parts(header: str | None) -> bool:
    """Whether ``header`` allows ``multipart/related; type="application/octet-stream"``."""
    return any(
        (_is_multipart(r) and _covers(r.inner, OCTET)) or r.media_type == OCTET
        for r in parse_accept(header)
    )


def accepts_json(header: str | None) -> bool:
    """Whether ``header`` allows ``application/dicom+json`` (or plain JSON)."""
    return any(
        r.media_type in ("*/*", "application/*", "application/dicom+json", "application/json")
        for r in parse_accept(header)
    )
