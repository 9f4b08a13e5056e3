"""DICOM JSON (PS3.18 Annex F) of stored headers, with BulkDataURI for large binaries.

:func:`to_dicom_json` encodes a dataset; binary elements (OB/OW/OF/OD/OL/OV/UN) longer than
:data:`BULK_THRESHOLD` bytes become ``BulkDataURI`` references built by the caller from the
element's path (``00282000`` at the top level, ``00089124/0/00082112/1/00420011`` inside
sequences: tag, item index, tag, ...). Pixel data is never part of a cached header; the
metadata resources add its ``BulkDataURI`` with :func:`pixel_data_reference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydicom import Dataset
from pydicom.dataelem import DataElement

#: Binary values longer than this (bytes) are referenced, not inlined as base64.
BULK_THRESHOLD = 1024
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
#: pydicom compares the base64 length budget with the raw length this way.
_RAW_LIMIT = math.ceil(BULK_THRESHOLD * 3 / 4)

BulkURI = Callable[[str], str]


def to_dicom_json(ds: Dataset, bulk_uri: BulkURI | None = None) -> dict[str, Any]:
    """``ds`` as a DICOM JSON object; large binaries referenced through ``bulk_uri(path)``.

    Without ``bulk_uri`` binary elements are inlined (``InlineBinary``). File meta elements
    (group 0002) are not part of the dataset and are not included.
    """
    if bulk_uri is None:
        return ds.to_json_dict(bulk_data_threshold=1 << 62, suppress_invalid_tags=True)
    paths: dict[int, str] = {}
    _collect_binary(ds, "", paths)

    def handler(element: DataElement) -> str:
        path = paths.get(id(element))
        if path is None:  # not reached: every binary element was collected
            path = f"{int(element.tag):08X}"
        return bulk_uri(path)

    return ds.to_json_dict(
        bulk_data_threshold=BULK_THRESHOLD,
        bulk_data_element_handler=handler,
        suppress_invalid_tags=True,
    )


def _collect_binary(ds: Dataset, prefix: str, paths: dict[int, str]) -> None:
    for element in ds:
        path = f"{prefix}{int(element.tag):08X}"
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                _collect_binary(item, f"{path}/{index}/", paths)
        elif element.VR in _BINARY_VRS and element.value is not None:
            if len(element.value) > _RAW_LIMIT:
                paths[id(element)] = path


def element_at(ds: Dataset, path: str) -> DataElement | None:
    """The element a bulk data path names in ``ds`` (None when there is none)."""
    parts = path.strip("/").split("/")
    current: Dataset = ds
    try:
        while True:
            tag = int(parts.pop(0), 16)
            element = current.get(tag)
            if element is None:
                return None
            if not parts:
                return element if element.VR in _BINARY_VRS else None
            if element.VR != "SQ":
                return None
            current = element.value[int(parts.pop(0))]
    except (ValueError, IndexError):
        return None


def pixel_data_reference(header: Dataset, uri: str) -> dict[str, Any] | None:
    """The JSON entry of Pixel Data for an image header (None when it is not an image)."""
    if "Rows" not in header or "BitsAllocated" not in header:
        return None
    syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
    encapsulated = bool(syntax is not None and syntax.is_encapsulated)
    vr = "OB" if encapsulated or int(header.BitsAllocated) <= 8 else "OW"
    return {"vr": vr, "BulkDataURI": uri}
