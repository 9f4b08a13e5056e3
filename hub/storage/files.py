"""Durable file operations under ``DATA_DIR/instances``: temp files, fsync, atomic renames.

Every write goes to a temp file in the destination folder (or the spool folder, same file
system), is flushed and fsynced, renamed over its final name, and the folder is fsynced, so an
acknowledged instance survives a power cut. Temp names start with a dot and end in ``.tmp``;
UIDs start with a digit, so the two can never collide.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from hub.settings import get_settings
from hub.storage.errors import OutOfSpaceError, StorageError

log = logging.getLogger(__name__)

INSTANCES = "instances"
SPOOL = ".spool"
TEMP_SUFFIX = ".tmp"
MIB = 1024 * 1024
CHUNK = MIB


def data_dir() -> Path:
    """The hub's data directory (absolute)."""
    return _resolved(get_settings().data_dir)


@functools.lru_cache(maxsize=16)
def _resolved(path: Path) -> Path:
    """``path.resolve()``, once per path: every C-STORE asks for the data directory several
    times, and resolving walks each component with a system call."""
    return path.resolve()


def instances_root() -> Path:
    """``DATA_DIR/instances``, created if missing."""
    return ensure_dir(data_dir() / INSTANCES)


def spool_dir() -> Path:
    """The spool folder: the SCP writes received data here, on the storage file system."""
    return ensure_dir(instances_root() / SPOOL)


def new_spool_file() -> Path:
    """A new, empty, uniquely named file in :func:`spool_dir` for a receiver to write into.

    Pass the written file to :func:`hub.storage.store.store_instance`, which takes it over.
    """
    fd, name = tempfile.mkstemp(dir=spool_dir(), prefix=".", suffix=TEMP_SUFFIX)
    os.close(fd)
    return Path(name)


def ensure_dir(path: Path) -> Path:
    """Create ``path`` and missing parents, fsyncing each parent whose entries changed."""
    if path.is_dir():
        return path
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return path
    fsync_dir(path.parent)
    return path


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_free_space(incoming: int = 0) -> None:
    """Raise :class:`OutOfSpaceError` if writing ``incoming`` bytes would pass the watermark."""
    minimum = get_settings().storage.min_free_mb * MIB
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free - incoming < minimum:
        raise OutOfSpaceError(
            f"free space in {root} is {free // MIB} MiB, below the {minimum // MIB} MiB "
            "watermark ([storage] min_free_mb)",
            "free disk space in the data directory or lower [storage] min_free_mb",
        )


def new_temp_file(folder: Path) -> tuple[int, Path]:
    """An open descriptor and the path of a new temp file in ``folder``."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".", suffix=TEMP_SUFFIX)
    return fd, Path(name)


#: ``sync_file_range(2)`` flag: start writing the range's dirty pages back, do not wait.
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Callable[[int, int, int, int], int] | None = None


def _load_sync_file_range() -> None:
    global _sync_file_range
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):  # not Linux/glibc: start_writeback does nothing
        return
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    _sync_file_range = function


if sys.platform.startswith("linux"):
    _load_sync_file_range()


def start_writeback(fd: int) -> None:
    """Let the disk start writing ``fd``'s data now, without waiting (Linux; a hint only).

    A receiver calls it once a file is complete: the writes then proceed while the header is
    parsed and the checksum computed, and the fsync in :func:`sync_and_digest`, which alone
    makes the file durable, has less left to wait for.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def sync_and_digest(path: Path, checksum: bool) -> tuple[int, str]:
    """fsync ``path``; return its size and hex SHA-256 (``""`` when ``checksum`` is off)."""
    digest = hashlib.sha256() if checksum else None
    size = 0
    with path.open("rb") as file:
        if digest is not None:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        else:
            size = os.fstat(file.fileno()).st_size
        os.fsync(file.fileno())
    return size, digest.hexdigest() if digest is not None else ""


def move_into(source: Path, folder: Path) -> Path:
    """Move ``source`` to a temp name in ``folder`` (a copy when across file systems)."""
    fd, temp = new_temp_file(folder)
    os.close(fd)
    try:
        os.replace(source, temp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            remove_quietly(temp)
            raise
        shutil.copyfile(source, temp)
        remove_quietly(source)
    return temp


def commit_rename(temp: Path, final: Path) -> None:
    """Atomically rename the (fsynced) ``temp`` over ``final`` and fsync the folder."""
    os.replace(temp, final)
    fsync_dir(final.parent)


def remove_quietly(path: Path | None) -> None:
    """Delete ``path`` if it exists; a failure is logged, never raised (cleanup paths)."""
    if path is None:
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def storage_error(exc: OSError) -> StorageError:
    """A :class:`StorageError` (or :class:`OutOfSpaceError` for ENOSPC) for an OS error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpaceError(
            f"the disk of the data directory is full: {exc.strerror}",
            "free disk space in the data directory",
        )
    return StorageError(
        f"could not write the instance: {exc.strerror or exc}",
        "check the data directory's permissions and disk",
    )
