"""Intake of uploaded files: multipart streams and zip archives, within the ``[api]`` limits.

The body is read from the request stream as it arrives (never buffered whole in memory) and
each file part is written to a fresh folder under ``DATA_DIR/spool`` (same file system as the
store, so :func:`hub.storage.store.store_instance` takes the files over by renaming). Limits,
all from :class:`hub.settings.ApiOptions`:

- ``Content-Length`` above ``max_upload_bytes`` answers 413 before a byte is read, and the
  bytes are counted while streaming (a missing or lying ``Content-Length`` changes nothing);
- more than ``max_files`` files (parts plus zip entries) answers 413;
- a zip is checked in its central directory first: too many entries or a declared expanded
  size above ``max_expanded_bytes`` answers 413, an absolute path or ``..`` component 422; it
  is then extracted entry by entry with the bytes counted, so an entry that expands beyond its
  declared size is stopped there. Entries are written under generated names, never their own.

Nothing here knows DICOM beyond :func:`looks_like_dicom` (the Part-10 preamble).
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hub.settings import ApiOptions, get_settings
from hub.web.problems import ProblemError

log = logging.getLogger(__name__)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: Bytes of non-file form fields accepted in total (they are ignored).
MAX_FIELD_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class UploadedFile:
    """One file of an upload: its name as the client gave it (for messages only) and where
    it lies in the spool folder."""

    name: str
    path: Path
    size: int


@dataclass
class Upload:
    """The files of one request, zips already extracted."""

    folder: Path
    files: list[UploadedFile] = field(default_factory=list)


def too_large(detail: str) -> ProblemError:
    return ProblemError(
        413, detail, fix="send fewer or smaller files, or raise the [api] limits of the hub"
    )


def check_content_length(request: Request, limit: int) -> None:
    """413 when the declared body is larger than ``limit`` (before reading anything)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise ProblemError(400, "Content-Length is not a number") from None
    if size > limit:
        raise too_large(f"the upload is {size} bytes; this hub accepts at most {limit} bytes")


@contextmanager
def spool_folder() -> Iterator[Path]:
    """A fresh folder under ``DATA_DIR/spool``, removed with what is left in it."""
    from hub.storage import files

    folder = files.ensure_dir(files.spool_dir() / f"upload-{secrets.token_hex(8)}")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def display_name(raw: bytes | str | None, fallback: str) -> str:
    """A client file name fit for messages (last path part, printable, at most 120 chars)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch.isprintable())[:120]
    return text or fallback


class _PartWriter:
    """python-multipart callbacks writing each file part to its own spool file."""

    def __init__(self, folder: Path, options: ApiOptions) -> None:
        self.folder = folder
        self.options = options
        self.files: list[UploadedFile] = []
        self.error: ProblemError | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._handle: BinaryIO | None = None
        self._current: UploadedFile | None = None
        self._field_bytes = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self._current = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"filename" not in params:
            return  # a plain form field: ignored (bounded by MAX_FIELD_BYTES)
        if len(self.files) >= self.options.max_files:
            self.error = too_large(f"more than {self.options.max_files} files in one upload")
            return
        number = len(self.files) + 1
        path = self.folder / f"part-{number:05d}"
        self._current = UploadedFile(display_name(params[b"filename"], f"file {number}"), path, 0)
        self.files.append(self._current)
        self._handle = path.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        if self._current is None or self._handle is None:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                self.error = too_large("form fields other than files are limited to 64 KiB")
            return
        self._handle.write(data[start:end])
        self._current.size += end - start

    def _end(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = None
        self._current = None

    def close(self) -> None:
        self._end()


async def receive_multipart(request: Request, folder: Path) -> list[UploadedFile]:
    """Stream a ``multipart/form-data`` body into ``folder``; the file parts, in order."""
    options = get_settings().api
    check_content_length(request, options.max_upload_bytes)
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise ProblemError(
            415,
            f"the body is {kind.decode('latin-1') or 'untyped'}, expected multipart/form-data",
            fix="send the DICOM files (or one zip of them) as multipart/form-data file parts",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise ProblemError(400, "multipart/form-data without a boundary parameter")
    writer = _PartWriter(folder, options)
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > options.max_upload_bytes:
                raise too_large(
                    f"the upload exceeds {options.max_upload_bytes} bytes; this hub accepts "
                    "no more"
                )
            parser.write(chunk)
            if writer.error is not None:
                raise writer.error
        parser.finalize()
    except ProblemError:
        raise
    except Exception as exc:  # python-multipart's MultipartParseError and friends
        raise ProblemError(400, f"the multipart body is malformed: {exc}") from None
    finally:
        writer.close()
    if writer.error is not None:
        raise writer.error
    if not writer.files:
        raise ProblemError(
            422, "the upload holds no file part", field="files",
            fix="attach the DICOM files (or one zip) as file parts named 'files'",
        )
    return writer.files


def is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in ZIP_MAGIC


def looks_like_dicom(path: Path) -> bool:
    """A DICOM Part-10 file: 128-byte preamble, then ``DICM``."""
    with path.open("rb") as handle:
        head = handle.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def unsafe_name(name: str) -> bool:
    """An entry name that would escape an extraction folder (absolute, drive, ``..``)."""
    normal = name.replace("\\", "/")
    return (
        normal.startswith("/")
        or bool(_DRIVE.match(normal))
        or ".." in PurePosixPath(normal).parts
        or "\x00" in normal
    )


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or (
        parts and parts[-1].upper() == "DICOMDIR"
    )


def check_zip(archive: zipfile.ZipFile, name: str, budget_files: int, options: ApiOptions
              ) -> list[zipfile.ZipInfo]:
    """The entries to extract, after the central-directory checks (nothing extracted yet)."""
    infos = archive.infolist()
    if len(infos) > budget_files:
        raise too_large(
            f"zip {name} holds {len(infos)} entries; at most {options.max_files} files are "
            "accepted per upload"
        )
    for info in infos:
        if unsafe_name(info.filename):
            raise ProblemError(
                422, f"zip {name} holds an unsafe entry name {info.filename[:120]!r} "
                "(absolute or with '..')", field="files",
                fix="zip the files with relative paths inside one folder",
            )
    entries = [i for i in infos if not i.is_dir() and not _skipped(i.filename)]
    declared = sum(i.file_size for i in entries)
    if declared > options.max_expanded_bytes:
        raise too_large(
            f"zip {name} expands to {declared} bytes; at most {options.max_expanded_bytes} "
            "are accepted"
        )
    return entries


def extract_zip(upload: UploadedFile, folder: Path, budget_files: int, options: ApiOptions
                ) -> list[UploadedFile]:
    """Extract a checked zip entry by entry, counting bytes; the zip itself is removed."""
    try:
        archive = zipfile.ZipFile(upload.path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProblemError(415, f"{upload.name} is not a readable zip: {exc}") from None
    extracted: list[UploadedFile] = []
    total = 0
    stem = upload.path.name
    with archive:
        entries = check_zip(archive, upload.name, budget_files, options)
        for number, info in enumerate(entries, start=1):
            target = folder / f"{stem}-{number:05d}"
            written = 0
            try:
                with archive.open(info) as source, target.open("wb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or total > options.max_expanded_bytes:
                            raise too_large(
                                f"zip {upload.name} expands beyond its declared size or "
                                f"{options.max_expanded_bytes} bytes; extraction stopped"
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError,
                    zlib.error) as exc:
                raise ProblemError(
                    415, f"entry {info.filename[:120]!r} of zip {upload.name} cannot be "
                    f"extracted: {exc}",
                ) from None
            extracted.append(
                UploadedFile(display_name(info.filename, f"entry {number}"), target, written)
            )
    upload.path.unlink(missing_ok=True)
    return extracted


def expand_zips(files: list[UploadedFile], folder: Path) -> list[UploadedFile]:
    """Replace each zip by its entries (sync; zips inside zips are not opened)."""
    options = get_settings().api
    zipped = [is_zip(f.path) for f in files]
    plain_after = [0] * (len(files) + 1)  # plain files after each position
    for index in range(len(files) - 1, -1, -1):
        plain_after[index] = plain_after[index + 1] + (not zipped[index])
    expanded: list[UploadedFile] = []
    for index, upload in enumerate(files):
        if not zipped[index]:
            expanded.append(upload)
            continue
        budget = options.max_files - len(expanded) - plain_after[index + 1]
        expanded.extend(extract_zip(upload, folder, max(budget, 0), options))
    if len(expanded) > options.max_files:
        raise too_large(f"more than {options.max_files} files in one upload")
    return expanded


async def receive_upload(request: Request, folder: Path) -> Upload:
    """Receive a multipart upload into ``folder`` and expand its zips."""
    parts = await receive_multipart(request, folder)
    files = await run_in_threadpool(expand_zips, parts, folder)
    return Upload(folder=folder, files=files)
