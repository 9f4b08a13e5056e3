"""``multipart/related`` bodies (RFC 2387) as DICOMweb uses them.

- :func:`stream_parts` writes parts lazily: a file part is read from disk in chunks while it
  is sent, so a study retrieve never holds more than one chunk in memory.
- :class:`MultipartReader` reads a STOW-RS request body as it streams in and writes each part
  into its own spool file, enforcing a total size and a part count.

Layout written: ``--B CRLF headers CRLF CRLF body CRLF --B ... CRLF --B-- CRLF``. Header names
are sent as ``Content-Type`` exactly (Cornerstone's parser compares them case-sensitively).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hub.storage import files

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Part:
    """One part to send: bytes in memory, or a file streamed from disk."""

    content_type: str
    data: bytes | None = None
    path: Path | None = None
    location: str | None = None


def new_boundary() -> str:
    """A random boundary that cannot plausibly occur in DICOM data."""
    return uuid.uuid4().hex


def content_type(inner: str, boundary: str) -> str:
    """The ``Content-Type`` of a multipart answer whose parts are ``inner``."""
    return f'multipart/related; type="{inner}"; boundary={boundary}'


def stream_parts(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """Yield the encoded body; parts (and their files) are produced and read lazily."""
    for part in parts:
        size = len(part.data) if part.data is not None else _size(part.path)
        head = f"--{boundary}\r\nContent-Type: {part.content_type}\r\n"
        if part.location:
            head += f"Content-Location: {part.location}\r\n"
        if size is not None:
            head += f"Content-Length: {size}\r\n"
        yield (head + "\r\n").encode("ascii")
        if part.data is not None:
            yield part.data
        elif part.path is not None:
            with part.path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def _size(path: Path | None) -> int | None:
    try:
        return path.stat().st_size if path is not None else None
    except OSError:
        return None


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """The media type (lower case) and parameters of a ``Content-Type`` value."""
    media, _, rest = (value or "").partition(";")
    params: dict[str, str] = {}
    for item in _params(rest):
        name, _, val = item.partition("=")
        if name.strip():
            params[name.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def _params(text: str) -> list[str]:
    items, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return items


class BodyTooLargeError(Exception):
    """The body passed the size limit or the part limit."""


class MalformedBodyError(Exception):
    """The body is not a well-formed ``multipart/related`` message."""


@dataclass
class ReceivedPart:
    """A part of a request written to a spool file (the caller takes the file over)."""

    content_type: str
    path: Path
    size: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class MultipartReader:
    """Read a multipart body chunk by chunk into spool files (one per part)."""

    def __init__(
        self,
        boundary: str,
        *,
        max_bytes: int,
        max_parts: int,
        new_file: Callable[[], Path] = files.new_spool_file,
    ) -> None:
        if not boundary or len(boundary) > 200:
            raise MalformedBodyError("the Content-Type has no usable boundary parameter")
        self.delimiter = b"\r\n--" + boundary.encode("latin-1")
        self.max_bytes = max_bytes
        self.max_parts = max_parts
        self.new_file = new_file
        self.parts: list[ReceivedPart] = []
        self._out: int | None = None

    async def read(self, chunks: AsyncIterator[bytes]) -> list[ReceivedPart]:
        """Consume ``chunks``; return the parts. On error every spool file is removed."""
        try:
            await self._read(chunks)
        except BaseException:
            self.discard()
            raise
        finally:
            self._close()
        return self.parts

    def _close(self) -> None:
        if self._out is not None:
            os.close(self._out)
            self._out = None

    def discard(self) -> None:
        """Remove the spool files of all parts (those not taken over)."""
        for part in self.parts:
            files.remove_quietly(part.path)

    async def _read(self, chunks: AsyncIterator[bytes]) -> None:
        buffer = bytearray(b"\r\n")  # the first boundary may open the body without a CRLF
        total = 0
        state = "preamble"
        keep = len(self.delimiter) + 2
        async for chunk in chunks:
            total += len(chunk)
            if total > self.max_bytes:
                raise BodyTooLargeError(f"the body is larger than {self.max_bytes} bytes")
            buffer += chunk
            while True:
                if state == "preamble":
                    index = buffer.find(self.delimiter)
                    if index < 0:
                        del buffer[: max(0, len(buffer) - keep)]
                        break
                    del buffer[: index + len(self.delimiter)]
                    state = "after-boundary"
                if state == "after-boundary":
                    if len(buffer) < 2:
                        break
                    if buffer[:2] == b"--":
                        state = "done"
                        break
                    end = buffer.find(b"\r\n")
                    if end < 0:
                        break
                    del buffer[: end + 2]  # transport padding after the boundary
                    state = "headers"
                if state == "headers":
                    end = buffer.find(b"\r\n\r\n")
                    if buffer[:2] == b"\r\n":
                        end = -2
                    elif end < 0:
                        if len(buffer) > 16384:
                            raise MalformedBodyError("a part's headers are longer than 16 kB")
                        break
                    headers = _parse_headers(bytes(buffer[: max(end, 0)]))
                    del buffer[: end + 4]
                    if len(self.parts) >= self.max_parts:
                        raise BodyTooLargeError(f"the body has more than {self.max_parts} parts")
                    path = self.new_file()
                    self.parts.append(
                        ReceivedPart(headers.get("content-type", ""), path, 0, headers)
                    )
                    self._out = os.open(path, os.O_WRONLY | os.O_TRUNC)
                    state = "body"
                if state == "body":
                    index = buffer.find(self.delimiter)
                    if index < 0:
                        flush = max(0, len(buffer) - keep)
                        self._write(buffer[:flush])
                        del buffer[:flush]
                        break
                    self._write(buffer[:index])
                    self._close()
                    del buffer[: index + len(self.delimiter)]
                    state = "after-boundary"
                if state == "done":
                    break
            if state == "done":
                break
        if state != "done":
            raise MalformedBodyError(
                "the body ended before its closing boundary"
                if self.parts or state != "preamble"
                else "the body holds no part delimited by the Content-Type's boundary"
            )

    def _write(self, data: bytearray) -> None:
        assert self._out is not None
        view = memoryview(data)
        while view:
            written = os.write(self._out, view)
            view = view[written:]
        self.parts[-1].size += len(data)


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers
