"""The C-STORE side of the SCP: receive into the spool, store durably, answer a status.

pynetdicom is set to receive every C-STORE data set in chunks straight to a file
(``_config.STORE_RECV_CHUNKED_DATASET``): the decoder writes the preamble, ``DICM``, a File
Meta group (MediaStorage SOP Class/Instance UID from the request, TransferSyntaxUID of the
accepted presentation context) and then each P-DATA fragment as it arrives, so memory stays
flat whatever the size. pynetdicom creates that file with ``tempfile.NamedTemporaryFile`` in the
system temp folder and deletes it after the handler returns; :func:`receive_into_spool` makes
it create the file in the hub's spool folder instead (same file system as the storage, a
``.*.tmp`` name the spool sweep recognises), so :func:`hub.storage.store.store_instance` takes
it over with a rename, no copy and no re-encode. pynetdicom's later unlink of the moved name
fails quietly (it ignores ``OSError``).

:func:`store_status` is the handler's core: every outcome becomes a DICOM status at this edge
(PS3.4 B.2.3), nothing raises.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import struct
import tempfile
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import DatabaseError
from pydicom import Dataset
from pydicom.filereader import data_element_generator
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import _handlers, evt
from pynetdicom.association import Association
from pynetdicom.transport import AssociationSocket

from hub.errors import InputError
from hub.storage import files
from hub.storage.errors import MissingAttributeError, OutOfSpaceError, StorageError
from hub.storage.store import StoredInstance, store_instance
from hub.storage.uids import is_valid_uid

log = logging.getLogger(__name__)

SUCCESS = 0x0000
#: Refused: out of resources (disk below the watermark, or full).
OUT_OF_RESOURCES = 0xA700
#: Refused: out of resources, the write or the index failed (transient; send again).
NOT_STORED = 0xA701
#: Refused: out of resources, an unexpected error (logged with its traceback).
INTERNAL_ERROR = 0xA702
#: Error: data set does not match SOP class (a required attribute is missing, or the data set
#: contradicts the request).
DOES_NOT_MATCH = 0xA900
#: Error: cannot understand (an invalid UID, an undecodable data set).
CANNOT_UNDERSTAND = 0xC000
#: ErrorComment is LO: at most 64 characters.
COMMENT_LENGTH = 64


@dataclass(frozen=True)
class Outcome:
    """What one C-STORE came to: the status to answer and, on success, what was stored."""

    status: int
    comment: str = ""
    stored: StoredInstance | None = None

    def as_dataset(self) -> Dataset | int:
        """The handler's return value: an int for success, a status data set otherwise."""
        if self.status == SUCCESS:
            return SUCCESS
        ds = Dataset()
        ds.Status = self.status
        if self.comment:
            ds.ErrorComment = comment(self.comment)
        return ds


def comment(text: str) -> str:
    """``text`` made a valid LO value: one line, no backslash, at most 64 characters."""
    flat = " ".join(text.replace("\\", "/").split())
    return flat if len(flat) <= COMMENT_LENGTH else flat[: COMMENT_LENGTH - 3] + "..."


def open_spool_file() -> tuple[int, Path]:
    """A new spool file for a received data set: its open descriptor and its path.

    Used by :mod:`hub.dimse.store_loop`; the file is given to :func:`store_status` (taken
    over) once written and closed.
    """
    fd, name = tempfile.mkstemp(dir=files.spool_dir(), prefix=".", suffix=files.TEMP_SUFFIX)
    return fd, Path(name)


def _spool_named_temporary_file(*args: Any, **kwargs: Any) -> IO[bytes]:
    """``NamedTemporaryFile`` as pynetdicom calls it, created in the hub's spool folder."""
    kwargs["dir"] = files.spool_dir()
    kwargs["prefix"] = "."
    kwargs["suffix"] = files.TEMP_SUFFIX
    return tempfile.NamedTemporaryFile(*args, **kwargs)  # noqa: SIM115 (pynetdicom closes it)


_spooling_lock = threading.Lock()
_spooling_users = 0
_saved_pynetdicom: tuple[bool, Any] | None = None


def receive_into_spool() -> None:
    """Make pynetdicom receive C-STORE data sets in chunks into the spool folder.

    Process-wide (pynetdicom's settings are module globals): each SCP calls it when it starts
    and :func:`stop_receiving_into_spool` when it stops; the last one out restores
    pynetdicom's own behaviour, so other pynetdicom users in the process are unaffected.
    """
    global _spooling_users, _saved_pynetdicom
    from pynetdicom import _config, dimse_messages

    with _spooling_lock:
        _spooling_users += 1
        if _saved_pynetdicom is None:
            _saved_pynetdicom = (
                _config.STORE_RECV_CHUNKED_DATASET,
                getattr(dimse_messages, "NamedTemporaryFile", None),
            )
        _config.STORE_RECV_CHUNKED_DATASET = True
        if hasattr(dimse_messages, "NamedTemporaryFile"):
            dimse_messages.NamedTemporaryFile = _spool_named_temporary_file
        else:  # a pynetdicom without the hook: store_instance copies across file systems
            log.warning("pynetdicom no longer exposes NamedTemporaryFile; files are copied")


def stop_receiving_into_spool() -> None:
    """Undo one :func:`receive_into_spool`; the last call restores pynetdicom's settings."""
    global _spooling_users, _saved_pynetdicom
    from pynetdicom import _config, dimse_messages

    with _spooling_lock:
        _spooling_users = max(0, _spooling_users - 1)
        if _spooling_users or _saved_pynetdicom is None:
            return
        chunked, factory = _saved_pynetdicom
        _saved_pynetdicom = None
        _config.STORE_RECV_CHUNKED_DATASET = chunked
        if factory is not None:
            dimse_messages.NamedTemporaryFile = factory


@dataclass(frozen=True)
class Request:
    """What the C-STORE request said of its data set, and the syntax it arrived in."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


def store_status(
    path: Path, *, calling_ae: str, called_ae: str, request: Request | None = None
) -> Outcome:
    """Store the received Part-10 file ``path`` (taken over) and say what to answer.

    With ``request``, a data set whose SOP Class/Instance UID contradicts the request (the
    File Meta pynetdicom wrote comes from the request) is refused and not stored.
    """
    if request is not None:
        contradiction = request_mismatch(path, request)
        if contradiction:
            log.info("C-STORE from %s refused: %s", calling_ae, contradiction)
            return Outcome(DOES_NOT_MATCH, contradiction)
    try:
        stored = store_instance(path, calling_ae=calling_ae, called_ae=called_ae, source="scp")
    except MissingAttributeError as exc:
        return Outcome(DOES_NOT_MATCH, f"missing {exc.field}")
    except InputError as exc:
        field = getattr(exc, "field", "")
        return Outcome(CANNOT_UNDERSTAND, f"invalid {field}" if field else exc.cause)
    except OutOfSpaceError as exc:
        log.warning("C-STORE from %s refused: %s", calling_ae, exc.cause)
        return Outcome(OUT_OF_RESOURCES, "out of disk space, try later")
    except StorageError as exc:
        log.error("C-STORE from %s not stored: %s", calling_ae, exc.cause)
        return Outcome(NOT_STORED, "could not write the instance, try later")
    except DatabaseError as exc:
        log.error("C-STORE from %s not indexed: %s", calling_ae, exc)
        return Outcome(NOT_STORED, "could not index the instance, try later")
    except Exception:
        log.exception("C-STORE from %s failed unexpectedly", calling_ae)
        return Outcome(INTERNAL_ERROR, "internal error, try later")
    return Outcome(SUCCESS, stored=stored)


#: (0008,0016) SOPClassUID and (0008,0018) SOPInstanceUID, early in every data set.
_SOP_TAGS = {0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID"}


def request_mismatch(path: Path, request: Request) -> str:
    """Which of the data set's SOP Class/Instance UID differs from the request ("" if none).

    Reads only the File Meta length and the data set's first elements (pynetdicom wrote the
    File Meta). Absent or invalid values, a deflated data set or anything unreadable count as
    no contradiction: :func:`~hub.storage.store.store_instance` judges (and refuses) those.
    """
    if request.transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        return ""
    implicit = request.transfer_syntax_uid == ImplicitVRLittleEndian
    expected = {
        "SOPClassUID": request.sop_class_uid, "SOPInstanceUID": request.sop_instance_uid,
    }
    try:
        with path.open("rb") as file:
            head = file.read(144)
            if head[128:132] != b"DICM" or head[132:136] != b"\x02\x00\x00\x00":
                return ""
            (length,) = struct.unpack("<I", head[140:144])
            file.seek(144 + length)
            for element in data_element_generator(
                file, implicit, True, defer_size=256,
                stop_when=lambda tag, vr, length: tag > 0x00080018,
            ):
                keyword = _SOP_TAGS.get(element.tag)
                if keyword is None or not isinstance(element.value, bytes):
                    continue
                value = element.value.decode("ascii", "replace").strip("\x00 ")
                if is_valid_uid(value) and value != str(expected[keyword]).strip("\x00 "):
                    return f"{keyword} differs from the request"
    except Exception:  # unreadable here: store_instance reports it properly
        return ""
    return ""


def sweep_spool(max_age: float) -> int:
    """Delete spool files older than ``max_age`` seconds; returns how many.

    Only files no association can still be writing: several SCP processes may share one data
    directory, and an association lives at most ``[dicom] max_association_seconds``.
    """
    folder = files.spool_dir()
    cutoff = time.time() - max_age
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(files.TEMP_SUFFIX)):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("could not remove stale spool file %s: %s", entry.path, exc)
    return removed


#: How long the association's reader waits in ``select`` for the peer's next bytes.
READY_WAIT = 0.001
#: What the reader then sleeps between rounds (pynetdicom's default is 1 ms, slept even when
#: data is already waiting; the wait now happens in ``select``, which returns at once).
LOOP_DELAY = 0.00005


class _WaitingSocket(AssociationSocket):
    """pynetdicom's socket whose readiness check waits up to :data:`READY_WAIT` for data.

    pynetdicom's reader sleeps 1 ms whenever no data is ready and then checks without waiting,
    so each PDU and each next request waits up to that long. Waiting inside ``select``
    instead wakes the reader as soon as bytes arrive, at the same idle cost.
    """

    @property
    def ready(self) -> bool:
        if self.socket is None or self._is_connected is False:
            time.sleep(READY_WAIT)  # closed: do not spin until the reader is stopped
            return False
        try:
            readable, _, _ = select.select([self.socket], [], [], READY_WAIT)
        except (OSError, TimeoutError, ValueError):
            self.event_queue.put("Evt17")  # transport closed, as pynetdicom reports it
            return False
        return bool(readable)


#: The largest PDU the pynetdicom path reads when ``[dicom] max_pdu`` is smaller: an
#: A-ASSOCIATE-RQ with many contexts or a user identity may exceed a small P-DATA limit.
MIN_PDU_LIMIT = 1024 * 1024


def tune_receiving(assoc: Association, max_pdu: int = 0) -> None:
    """Make one accepted association faster and cheaper per PDU (nothing else changes).

    * its reader waits for data in ``select`` instead of sleeping 1 ms between checks
      (:class:`_WaitingSocket`), which cuts the latency of every PDU and request;
    * its socket reads a whole PDU with ``recv_into`` into one buffer instead of pynetdicom's
      4 KiB ``recv`` calls joined together (32 system calls and copies per 128 KiB PDU);
    * pynetdicom's standard handlers, which format a log line for every PDU and DIMSE message,
      are unbound unless pynetdicom's logger is at DEBUG;
    * with ``max_pdu``, a PDU longer than ``max(max_pdu, MIN_PDU_LIMIT)`` closes the connection
      instead of making pynetdicom allocate whatever length a peer announces.

    Only plain TCP sockets of the pynetdicom classes this was written against are changed.
    """
    transport = assoc.dul.socket
    plain = (
        type(transport) is AssociationSocket
        and isinstance(getattr(transport, "socket", None), socket.socket)
        and not isinstance(transport.socket, ssl.SSLSocket)
        and hasattr(assoc.dul, "_run_loop_delay")
    )
    if plain:
        transport.__class__ = _WaitingSocket
        assoc.dul._run_loop_delay = LOOP_DELAY
        transport.recv = types.MethodType(_recv_exactly, transport)  # type: ignore[method-assign]
        transport.hub_pdu_limit = max(max_pdu, MIN_PDU_LIMIT) if max_pdu else 0
    if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        for event, handler in (
            (evt.EVT_PDU_RECV, _handlers.standard_pdu_recv_handler),
            (evt.EVT_PDU_SENT, _handlers.standard_pdu_sent_handler),
            (evt.EVT_DIMSE_RECV, _handlers.standard_dimse_recv_handler),
            (evt.EVT_DIMSE_SENT, _handlers.standard_dimse_sent_handler),
        ):
            assoc.unbind(event, handler)


def _recv_exactly(transport: Any, nr_bytes: int) -> bytearray:
    """``AssociationSocket.recv``: ``nr_bytes`` bytes, or fewer when the peer closed (or
    announced more than the PDU limit: then the connection is shut down)."""
    limit = getattr(transport, "hub_pdu_limit", 0)
    if limit and nr_bytes > limit + 6:
        log.warning(
            "a peer announced a %d-byte PDU, more than the %d we read: closing the connection",
            nr_bytes, limit,
        )
        try:
            transport.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return bytearray()
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    received = 0
    try:
        while received < nr_bytes:
            count = transport.socket.recv_into(view[received:], nr_bytes - received)
            if not count:
                break
            received += count
    finally:
        view.release()
    if received < nr_bytes:
        del buffer[received:]
    return buffer
