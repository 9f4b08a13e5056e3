"""Frames of stored instances, read without loading whole files (WADO-RS ``/frames``).

- Native little-endian files: a frame is a byte range of Pixel Data; its offset is computed
  from the header and read directly (one seek per frame, whatever the file's size).
- Encapsulated files: a frame's fragments are found through the Basic (or Extended) Offset
  Table by :func:`pydicom.encaps.get_frame` on the open file and sent as stored, or decoded
  (pylibjpeg / pydicom plugins) when native frames are asked for.
- Frames with Bits Allocated 1 (binary SEG) are re-packed so each starts on a byte boundary.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import UID

PIXEL_DATA = 0x7FE00010


class FrameError(Exception):
    """A frame cannot be read or decoded (the message says why)."""


def frame_count(header: Dataset) -> int:
    """Number of frames of an image header (0 when it has no pixel data attributes)."""
    if "Rows" not in header or "BitsAllocated" not in header:
        return 0
    try:
        return max(1, int(header.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def parse_frame_list(text: str, available: int) -> list[int]:
    """1-based frame numbers of ``"1,3,5"``; ``ValueError`` naming a bad or missing one."""
    numbers = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ValueError(f"frame list {text!r} must be positive whole numbers separated by ','")
        number = int(item)
        if not 1 <= number <= available:
            raise LookupError(f"frame {number} does not exist: the instance has {available}")
        numbers.append(number)
    if not numbers:
        raise ValueError("the frame list is empty")
    return numbers


def _frame_bytes(header: Dataset) -> tuple[int, int]:
    """(bits per frame, bits allocated) of a native image."""
    bits = int(header.BitsAllocated)
    samples = int(header.get("SamplesPerPixel", 1) or 1)
    return int(header.Rows) * int(header.Columns) * samples * bits, bits


def _open_pixel_value(file: BinaryIO, syntax: UID) -> int:
    """Position ``file`` (after its header was read) at Pixel Data's value; return its length."""
    raw = file.read(8)
    if len(raw) < 8:
        raise FrameError("the file has no Pixel Data")
    group, element = struct.unpack("<HH", raw[:4])
    if (group << 16 | element) != PIXEL_DATA:
        raise FrameError("the file's pixel data is not (7FE0,0010) Pixel Data")
    if syntax.is_implicit_VR:
        return int(struct.unpack("<L", raw[4:8])[0])
    return int(struct.unpack("<L", file.read(4))[0])


def pixel_position(path: Path) -> tuple[int, int]:
    """(file offset, length) of Pixel Data's value in ``path``; cached while it is unchanged."""
    stat = path.stat()
    return _pixel_position(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _pixel_position(path: str, mtime_ns: int, size: int) -> tuple[int, int]:
    with open(path, "rb") as file:
        header = dcmread(file, stop_before_pixels=True)
        length = _open_pixel_value(file, UID(str(header.file_meta.TransferSyntaxUID)))
        return file.tell(), length


def read_frames(
    path: Path, header: Dataset, numbers: list[int], kind: Literal["native", "stored"]
) -> Iterator[bytes]:
    """Yield the frames ``numbers`` (1-based) of ``path`` one at a time.

    ``native``: uncompressed little-endian bytes; ``stored``: the encapsulated fragments of a
    compressed file as they are (native files give native bytes either way).
    """
    syntax = UID(str(header.file_meta.TransferSyntaxUID))
    total = frame_count(header)
    if syntax.is_encapsulated and kind == "stored":
        yield from _stored_frames(path, header, numbers, total)
    elif syntax.is_little_endian and not syntax.is_encapsulated and not syntax.is_deflated:
        yield from _native_frames(path, header, numbers)
    else:
        for number in numbers:
            yield decode_frame(path, header, number)


def _native_frames(path: Path, header: Dataset, numbers: list[int]) -> Iterator[bytes]:
    frame_bits, bits = _frame_bytes(header)
    start, length = pixel_position(path)
    with path.open("rb") as file:
        for number in numbers:
            first_bit = (number - 1) * frame_bits
            if (first_bit + frame_bits + 7) // 8 > length:
                raise FrameError(f"frame {number} lies beyond the stored Pixel Data")
            if bits % 8 == 0:
                file.seek(start + first_bit // 8)
                yield file.read(frame_bits // 8)
                continue
            file.seek(start + first_bit // 8)
            raw = np.frombuffer(file.read((first_bit % 8 + frame_bits + 7) // 8), np.uint8)
            unpacked = np.unpackbits(raw, bitorder="little")
            offset = first_bit % 8
            yield np.packbits(unpacked[offset : offset + frame_bits], bitorder="little").tobytes()


def _stored_frames(
    path: Path, header: Dataset, numbers: list[int], total: int
) -> Iterator[bytes]:
    extended = None
    if "ExtendedOffsetTable" in header and "ExtendedOffsetTableLengths" in header:
        extended = (header.ExtendedOffsetTable, header.ExtendedOffsetTableLengths)
    start, _ = pixel_position(path)
    with path.open("rb") as file:
        file.seek(start)
        for number in numbers:
            try:
                yield get_frame(
                    file, number - 1, number_of_frames=total, extended_offsets=extended
                )
            except (ValueError, KeyError, struct.error) as exc:
                raise FrameError(f"frame {number} cannot be found in the fragments: {exc}") from exc


def decode_frame(path: Path, header: Dataset, number: int) -> bytes:
    """Frame ``number`` (1-based) decoded to native little-endian bytes."""
    array = frame_array(path, number, raw=True)
    if int(header.BitsAllocated) == 1:
        return np.packbits(array.astype(np.uint8).ravel(), bitorder="little").tobytes()
    if array.ndim == 3 and int(header.get("PlanarConfiguration", 0) or 0) == 1:
        array = np.moveaxis(array, -1, 0)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def frame_array(path: Path, number: int, *, raw: bool = False) -> np.ndarray:
    """Frame ``number`` (1-based) as stored values (no rescale); colour as RGB unless ``raw``."""
    try:
        return pixel_array(str(path), index=number - 1, raw=raw)
    except Exception as exc:  # decoders raise many kinds (missing plugin, corrupt stream)
        raise FrameError(f"frame {number} cannot be decoded: {type(exc).__name__}: {exc}") from exc
