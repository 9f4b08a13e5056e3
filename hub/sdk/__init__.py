"""The public SDK for model plugins: import only from here.

A plugin is a :class:`ModelPlugin` subclass with a :class:`ModelManifest`, exposed through a
module that implements the ``hub_models`` hook (see :mod:`hub.plugins.hookspecs`) and is named
by one entry point in the group ``pacs_hub``. ``docs/plugins.md`` walks through one.
"""

from hub.errors import ManifestError
from hub.sdk.codes import CODES, UNITS
from hub.sdk.manifest import (
    CODING_SCHEMES,
    MODALITIES,
    Code,
    FindingSpec,
    MeasurementSpec,
    ModelManifest,
    SegmentSpec,
    TensorSpec,
)
from hub.sdk.plugin import ModelPlugin, hookimpl
from hub.sdk.types import Result, Series, SliceRef

__all__ = [
    "CODES",
    "CODING_SCHEMES",
    "MODALITIES",
    "UNITS",
    "Code",
    "FindingSpec",
    "ManifestError",
    "MeasurementSpec",
    "ModelManifest",
    "ModelPlugin",
    "Result",
    "SegmentSpec",
    "Series",
    "SliceRef",
    "TensorSpec",
    "hookimpl",
    "sha256_of",
]


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file, for the manifest's ``sha256`` field."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
