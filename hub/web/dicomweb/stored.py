"""Stored files as DICOMweb reads them: absolute paths and cached headers.

The index (:mod:`hub.storage.models`) has no patient attributes by design; QIDO and the
metadata resources read them from the stored files. :func:`read_header` parses a file's
header once (``stop_before_pixels``) and keeps it in a process-wide LRU cache keyed by path,
modification time and size, so a re-stored instance is read again and an unchanged one never.
Cached datasets are fully decoded before they are shared and must be treated as read-only.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

from hub.storage import files

log = logging.getLogger(__name__)

#: Headers kept in memory (a CT slice's header is a few kB, a SEG's up to a few hundred).
CACHE_SIZE = 2048


class UnreadableFileError(Exception):
    """A file the index lists cannot be read (removed, truncated, not DICOM)."""


def absolute_path(relative: str) -> Path:
    """The absolute path of an ``Instance.path`` (relative to ``DATA_DIR``), kept inside it."""
    root = files.data_dir()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise UnreadableFileError(f"indexed path {relative!r} leaves the data directory")
    return path


def read_header(path: Path) -> Dataset:
    """The header of ``path`` (everything before the pixel data, with ``file_meta``).

    Raises :class:`UnreadableFileError` when the file is gone or not DICOM.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise UnreadableFileError(f"{path.name}: {exc.strerror}") from None
    return _cached_header(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached_header(path: str, mtime_ns: int, size: int) -> Dataset:
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot read stored file %s: %s", Path(path).name, type(exc).__name__)
        raise UnreadableFileError(f"{Path(path).name}: {type(exc).__name__}") from None
    _decode(ds)
    return ds


def _decode(ds: Dataset) -> None:
    """Convert every raw element now, so concurrent readers of the cached copy never write."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _decode(item)


def clear_cache() -> None:
    """Forget all cached headers (tests)."""
    _cached_header.cache_clear()
