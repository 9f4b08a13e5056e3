"""How result objects say that they are AI-generated and which model made them.

Every SEG and SR the hub writes carries the same General Equipment values and a series
description that a radiologist sees in the PACS series list: ``AI <model> <version> <kind> -
not for diagnosis``.
"""

from __future__ import annotations

import hashlib

from highdicom.sr import CodedConcept

import hub
from hub.sdk import Code, ModelManifest

MANUFACTURER = "pacs-ai-hub"
#: Fixed series numbers, so result series sort after the source series in viewers.
SERIES_NUMBERS = {"SEG": 9901, "SR": 9902}
_SUFFIX = " - not for diagnosis"


def series_description(manifest: ModelManifest, kind: str) -> str:
    """``AI ct-lung-seg 1.0.0 SEG - not for diagnosis``, shortened to fit 64 characters."""
    head = f"AI {manifest.name} {manifest.version}"
    room = 64 - len(_SUFFIX) - len(kind) - 1
    if len(head) > room:
        head = head[: room - 1].rstrip() + "~"
    return f"{head} {kind}{_SUFFIX}"


def software_versions(manifest: ModelManifest) -> tuple[str, str]:
    """(hub version, model version) for SoftwareVersions."""
    return (f"pacs-ai-hub {hub.__version__}"[:64], manifest.version)


def device_serial_number(manifest: ModelManifest) -> str:
    """A stable identifier of the model build: hash of name, version and ONNX sha256."""
    seed = f"{manifest.name}\x1f{manifest.version}\x1f{manifest.sha256}".encode()
    return hashlib.sha256(seed).hexdigest()[:16].upper()


def coded(code: Code) -> CodedConcept:
    """The highdicom form of an SDK :class:`~hub.sdk.Code`."""
    return CodedConcept(value=code.value, scheme_designator=code.scheme, meaning=code.meaning)
