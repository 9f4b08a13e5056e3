"""``store_instance``: the one durable write + index used by the SCP, REST and STOW.

Order of work, each step undone if a later one fails:

1. read the header and validate Study/Series/SOP Instance UIDs (nothing touched yet);
2. check the free-space watermark;
3. write the bytes to a temp file in the destination folder (a spooled file stays where it
   is, unless the rename finds it on another file system: then it is copied), fsync it;
4. rename it atomically to ``<SOPInstanceUID>.dcm``, fsync the folder;
5. index it in one transaction.

If step 5 fails, a file that did not exist before is removed again, so the index and the
disk agree and the sender, told of the failure, sends it again. A process killed between 4
and 5 leaves an unindexed file at its final name, which the next (re-)send indexes.
"""

from __future__ import annotations

import errno
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian

from hub.errors import InputError
from hub.settings import get_settings
from hub.storage import files
from hub.storage.errors import MissingAttributeError, StorageError
from hub.storage.header import Header
from hub.storage.uids import validate_uid

if TYPE_CHECKING:
    from hub.storage.index import IndexResult

log = logging.getLogger(__name__)

#: The UIDs every instance must have; paths are built from them.
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@dataclass(frozen=True)
class StoredInstance:
    """What :func:`store_instance` did."""

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    #: Absolute path of the stored file.
    path: Path
    size: int
    sha256: str
    #: True when this SOP Instance UID was already stored (file replaced, no new row).
    duplicate: bool


def store_instance(
    data: Dataset | bytes | Path,
    *,
    calling_ae: str = "",
    called_ae: str = "",
    source: str = "scp",
) -> StoredInstance:
    """Durably write one instance and index it; idempotent per SOP Instance UID.

    ``data`` is one of:

    * a pydicom ``Dataset``, encoded here in its ``file_meta`` transfer syntax (explicit VR
      little endian, and a ``file_meta`` added to the dataset, when it has none);
    * the bytes of a DICOM Part-10 file, written as they are;
    * the ``Path`` of a Part-10 file the caller spooled, best one from
      :func:`hub.storage.files.new_spool_file` (same file system, so a plain rename). The file
      is taken over: renamed into place without re-encoding on success, deleted on failure.

    ``calling_ae``/``called_ae`` are the association's AE titles (``""`` for REST/STOW);
    ``source`` says how it arrived (``scp``, ``rest``, ``stow``).

    Raises :class:`~hub.storage.errors.MissingAttributeError` or
    :class:`~hub.storage.errors.InvalidUIDError` (both ``InputError``) for a bad instance,
    :class:`~hub.storage.errors.OutOfSpaceError` below the free-space watermark, and
    :class:`~hub.storage.errors.StorageError` when the disk fails; nothing is left behind then.
    """
    spooled = data if isinstance(data, Path) else None
    temp: Path | None = None
    try:
        header = read_header(data)
        incoming = len(data) if isinstance(data, bytes) else 0
        files.check_free_space(incoming)
        folder = files.ensure_dir(
            files.instances_root() / header.study_instance_uid / header.series_instance_uid
        )
        temp = _write_temp(data, folder)
        spooled = None  # taken over: now ``temp``
        size, sha256 = files.sync_and_digest(temp, get_settings().storage.checksums)
        final = folder / f"{header.sop_instance_uid}.dcm"
        existed = final.exists()
        try:
            files.commit_rename(temp, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            temp = files.move_into(temp, folder)  # another file system: a copy, synced again
            files.sync_and_digest(temp, False)
            files.commit_rename(temp, final)
        temp = None
    except OSError as exc:
        raise files.storage_error(exc) from exc
    finally:
        files.remove_quietly(temp)
        files.remove_quietly(spooled)
    relative = final.relative_to(files.data_dir()).as_posix()
    try:
        result = index_instance(
            header,
            path=relative,
            size=size,
            sha256=sha256,
            source=source,
            calling_ae=calling_ae,
            called_ae=called_ae,
        )
    except BaseException:
        if not existed:
            files.remove_quietly(final)
        raise
    if result.replaced_path:
        files.remove_quietly(files.data_dir() / result.replaced_path)
    log.debug(
        "stored %s in series %s (%d bytes, duplicate=%s, source=%s)",
        header.sop_instance_uid,
        header.series_instance_uid,
        size,
        result.duplicate,
        source,
    )
    return StoredInstance(
        sop_instance_uid=header.sop_instance_uid,
        series_instance_uid=header.series_instance_uid,
        study_instance_uid=header.study_instance_uid,
        path=final,
        size=size,
        sha256=sha256,
        duplicate=result.duplicate,
    )


def index_instance(header: Header, **fields: Any) -> IndexResult:
    """Index a written file (:func:`hub.storage.index.index_instance`), setting up Django first."""
    from hub.db import setup

    setup()
    from hub.storage.index import index_instance as index

    return index(header, **fields)


def read_header(data: Dataset | bytes | Path) -> Header:
    """The validated index header of ``data`` (pixel data is not read)."""
    if isinstance(data, Dataset):
        ds = data
        meta = getattr(data, "file_meta", None)
        syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        syntax = syntax or ExplicitVRLittleEndian
    else:
        ds = _parse(data)
        syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
        if not syntax:
            raise InputError(
                "the file has no File Meta Information (TransferSyntaxUID)",
                "send a DICOM Part-10 file (preamble, 'DICM', file meta)",
            )
    uids = {keyword: _required_uid(ds, keyword) for keyword in REQUIRED_UIDS}
    sop_class = _text(ds, "SOPClassUID", 64)
    return Header(
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=validate_uid(sop_class, "SOPClassUID") if sop_class else "",
        transfer_syntax_uid=validate_uid(syntax, "TransferSyntaxUID"),
        modality=_text(ds, "Modality", 16),
        body_part_examined=_text(ds, "BodyPartExamined", 64),
        series_description=_text(ds, "SeriesDescription", 64),
    )


#: Every element :func:`read_header` uses lies at or before (0020,000E) SeriesInstanceUID.
_LAST_HEADER_TAG = 0x0020000E
#: Values longer than this are not read while parsing the header (none of them is needed).
_DEFER_SIZE = 4096


def _past_header(tag: int, vr: str | None, length: int) -> bool:
    return tag > _LAST_HEADER_TAG


def _parse(data: bytes | Path) -> Dataset:
    """The File Meta and the data set up to SeriesInstanceUID (nothing after it is read)."""
    try:
        if isinstance(data, bytes):
            return read_partial(
                io.BytesIO(data), stop_when=_past_header, defer_size=_DEFER_SIZE
            )
        with data.open("rb") as file:
            return read_partial(file, stop_when=_past_header, defer_size=_DEFER_SIZE)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"the data is not a readable DICOM Part-10 file: {exc}",
            "send a DICOM Part-10 file (preamble, 'DICM', file meta)",
        ) from None


def _required_uid(ds: Dataset, keyword: str) -> str:
    value = _raw(ds, keyword)
    if value is None or (isinstance(value, str) and not value):
        raise MissingAttributeError(keyword)
    return validate_uid(value if isinstance(value, str) else str(value), keyword)


def _raw(ds: Dataset, keyword: str) -> object:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element: pydicom raises various errors when decoding
        return "<undecodable>"
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = _raw(ds, keyword)
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()[:limit]


def _write_temp(data: Dataset | bytes | Path, folder: Path) -> Path:
    """The fsync-pending temp file holding ``data``'s Part-10 encoding: a spooled file as it
    is (renamed straight to its final name, or copied when on another file system), else a
    new one in ``folder``."""
    if isinstance(data, Path):
        return data
    fd, temp = files.new_temp_file(folder)
    try:
        with os.fdopen(fd, "wb") as file:
            if isinstance(data, bytes):
                file.write(data)
            else:
                _encode(data, file)
    except BaseException:
        files.remove_quietly(temp)
        raise
    return temp


def _encode(ds: Dataset, file: io.BufferedWriter) -> None:
    meta = ds.file_meta if hasattr(ds, "file_meta") else None
    if meta is None or "TransferSyntaxUID" not in meta:
        from pydicom.dataset import FileMetaDataset

        meta = FileMetaDataset(meta) if meta is not None else FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    try:
        dcmwrite(file, ds, enforce_file_format=True)
    except (ValueError, TypeError, AttributeError) as exc:
        raise StorageError(
            f"the dataset could not be encoded: {exc}",
            "check the dataset's elements and transfer syntax",
        ) from exc
