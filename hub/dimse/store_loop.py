"""Storage and verification associations served by the hub's own read loop.

pynetdicom stays the hub's AE: it owns the listening socket and every association that asks
for query/retrieve, role selection, extended negotiation or user identity. But its acceptor
passes each PDU through three threads that poll each other (socket reader, DUL loop,
association reactor, each sleeping about a millisecond per round), which costs a modality
sending a study several milliseconds per image, more than the durable write and the index
together. So when a new connection's A-ASSOCIATE-RQ (peeked, still unread) proposes only
Verification and storage SOP classes, and nothing beyond the maximum PDU length,
implementation class/version and asynchronous operations window, :class:`StoreLoop` serves it
in the connection's thread with blocking reads:

* the A-ASSOCIATE-RQ is answered with the same checks and choices as the pynetdicom path
  (:func:`hub.dimse.access.access_refusal`, the association limit, our transfer syntax
  preference) and an A-ASSOCIATE-AC or -RJ;
* each P-DATA-TF is read whole into one buffer; C-STORE data set fragments go straight into a
  spool file behind a File Meta group built from the request, and the last one hands the file
  to :func:`hub.dimse.receive.store_status` (durable and indexed before the answer);
* C-ECHO is answered at once; A-RELEASE-RQ is answered and the connection closed;
* the same limits hold: the largest PDU we announced (a bigger one aborts), the network timeout
  while idle or inside a PDU, and ``max_association_seconds`` checked before every read, so a
  peer trickling bytes is cut off too.

Anything that does not follow PS3.8 gets an A-ABORT. Logs carry AE titles, addresses and
counts, never patient data.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hub import __version__
from hub.dimse import pdu, receive
from hub.dimse.access import LOCAL_LIMIT_EXCEEDED, access_refusal
from hub.storage import files
from hub.storage.errors import OutOfSpaceError

if TYPE_CHECKING:
    from hub.settings import Settings

log = logging.getLogger(__name__)

#: The hub's implementation class UID (2.25 + 128 bits of SHA-256 of a fixed text) and version.
IMPLEMENTATION_CLASS_UID = "2.25.78944049805331451933070507840424836616"
IMPLEMENTATION_VERSION_NAME = f"PACSHUB_{__version__}"[:16]
#: The largest A-ASSOCIATE-RQ the loop takes; a bigger one goes to pynetdicom.
MAX_REQUEST = 65536
#: Shorter than its fixed fields: not for the loop (pynetdicom answers it).
MIN_REQUEST = 74
#: Between two peeks at a request that has only partly arrived.
PEEK_PAUSE = 0.002

VERIFICATION = "1.2.840.10008.1.1"


class _Ended(Exception):
    """The association is over: the peer closed, aborted, or we aborted it."""


@dataclass
class Counts:
    """What one association stored."""

    stored: int = 0
    failed: int = 0
    size: int = 0
    series: set[str] = field(default_factory=set)


def peek_request(sock: socket.socket, timeout: float) -> tuple[str, bytes]:
    """Look at a new connection's first PDU without reading it.

    Returns ``("loop", pdu)`` for a whole A-ASSOCIATE-RQ of at most :data:`MAX_REQUEST`
    bytes, ``("other", b"")`` for anything else (left to pynetdicom), and ``("closed", b"")``
    when the peer closed or sent nothing within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    want = 0  # the whole PDU's size, once its header is known
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "closed", b""
        sock.settimeout(remaining)
        try:
            data = sock.recv(want or pdu.HEADER_SIZE, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            return "closed", b""
        if not data:
            return "closed", b""
        if not want and len(data) >= pdu.HEADER_SIZE:
            pdu_type, length = pdu.header(data)
            if (
                pdu_type != pdu.ASSOCIATE_RQ
                or length + pdu.HEADER_SIZE > MAX_REQUEST
                or length + pdu.HEADER_SIZE < MIN_REQUEST
            ):
                return "other", b""
            want = length + pdu.HEADER_SIZE
            continue
        if want and len(data) >= want:
            return "loop", bytes(data[:want])
        time.sleep(PEEK_PAUSE)  # part of it is here: select would return at once


def wants_loop(request: pdu.AssociateRequest, others: frozenset[str]) -> bool:
    """Whether ``request`` is for the loop: no SOP class of ``others`` (the AE's query/retrieve
    classes), no user information sub-item the loop does not understand."""
    if request.other_user_items:
        return False
    return not any(context.abstract_syntax in others for context in request.contexts)


def negotiate(
    request: pdu.AssociateRequest, supported: dict[str, tuple[str, ...]]
) -> list[tuple[int, int, str]]:
    """(context ID, result, transfer syntax) for each proposed context, as pynetdicom decides:
    the first of *our* transfer syntaxes that the requestor proposed."""
    results = []
    for context in request.contexts:
        ours = supported.get(context.abstract_syntax)
        if ours is None:
            results.append(
                (context.context_id, pdu.ABSTRACT_SYNTAX_NOT_SUPPORTED,
                 context.transfer_syntaxes[0])
            )
            continue
        chosen = next((syntax for syntax in ours if syntax in context.transfer_syntaxes), None)
        if chosen is None:
            results.append(
                (context.context_id, pdu.TRANSFER_SYNTAXES_NOT_SUPPORTED,
                 context.transfer_syntaxes[0])
            )
        else:
            results.append((context.context_id, pdu.ACCEPTANCE, chosen))
    return results


@dataclass
class _Pending:
    """The C-STORE whose data set is arriving."""

    context_id: int
    message_id: int
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    path: Path | None
    fd: int | None
    #: Set when the spool file could not be written: the rest is read and dropped.
    failure: receive.Outcome | None = None


class StoreLoop:
    """One storage/verification association, served in the calling thread by :meth:`serve`.

    ``open_count`` says how many associations the SCP has open (this one included), for the
    association limit. After :meth:`serve`, :attr:`accepted`, :attr:`how` and :attr:`counts`
    say how it went.
    """

    def __init__(
        self,
        sock: socket.socket,
        address: str,
        request_pdu: bytes,
        *,
        settings: Settings,
        supported: dict[str, tuple[str, ...]],
        open_count: Callable[[], int],
    ) -> None:
        self.sock = sock
        self.address = address
        self.settings = settings
        self.options = settings.dicom
        self.supported = supported
        self.open_count = open_count
        self.request_pdu = request_pdu
        self.opened = time.monotonic()
        self.deadline = self.opened + self.options.max_association_seconds
        self.calling_ae = ""
        self.called_ae = ""
        self.accepted = False
        #: How it ended: released, aborted, aborted (time cap), rejected.
        self.how = "aborted"
        self.counts = Counts()
        self._contexts: dict[int, tuple[str, str]] = {}
        self._command = bytearray()
        self._pending: _Pending | None = None
        self._buffer = bytearray(self.options.max_pdu)
        self._stopped = False

    # -- life cycle -------------------------------------------------------------------------

    def serve(self) -> None:
        """Negotiate, then answer PDUs until the association ends; never raises."""
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._associate():
                self._run()
        except _Ended:
            pass
        except Exception:
            log.exception("association from %s (%s) failed", self.calling_ae, self.address)
            self._send_abort(pdu.ABORT_NOT_SPECIFIED)
        finally:
            self._drop_pending()
            try:
                self.sock.close()
            except OSError:
                pass

    def stop(self) -> None:
        """End the association from another thread (the SCP stops): its read returns."""
        self._stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- reading ----------------------------------------------------------------------------

    def _read(self, view: memoryview) -> None:
        """Fill ``view`` from the socket, within the network timeout and the time cap."""
        got = 0
        wanted = len(view)
        while got < wanted:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self._time_cap()
            self.sock.settimeout(min(self.options.network_timeout, remaining))
            try:
                count = self.sock.recv_into(view[got:])
            except TimeoutError:
                if self.deadline - time.monotonic() <= 0:
                    self._time_cap()
                log.warning(
                    "association from %s (%s) silent for %g s: aborting it",
                    self.calling_ae, self.address, self.options.network_timeout,
                )
                self._abort(pdu.ABORT_NOT_SPECIFIED)
            except OSError:
                raise _Ended from None
            if not count:
                raise _Ended  # the peer closed the connection (or the SCP stopped)
            got += count

    def _time_cap(self) -> None:
        log.warning(
            "association from %s (%s) open for more than %g s: aborting it",
            self.calling_ae, self.address, self.options.max_association_seconds,
        )
        self._abort(pdu.ABORT_NOT_SPECIFIED, how="aborted (time cap)")

    def _abort(self, reason: int, *, how: str = "aborted") -> None:
        """Send an A-ABORT (quietly) and end the association."""
        self._send_abort(reason, how=how)
        raise _Ended

    def _send_abort(self, reason: int, *, how: str = "aborted") -> None:
        self.how = how
        try:
            self.sock.settimeout(1.0)
            self.sock.sendall(pdu.encode_abort(pdu.ABORT_SOURCE_PROVIDER, reason))
        except OSError:
            pass

    def _send(self, data: bytes) -> None:
        """Send a PDU; a peer gone meanwhile ends the association."""
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Ended from None

    # -- association --------------------------------------------------------------------------

    def _associate(self) -> bool:
        """Read and answer the A-ASSOCIATE-RQ; True when accepted."""
        request_bytes = bytearray(len(self.request_pdu))
        self._read(memoryview(request_bytes))  # the PDU we peeked at
        request = pdu.parse_associate_rq(bytes(request_bytes))
        self.calling_ae = request.calling_ae
        self.called_ae = request.called_ae
        refusal = self._refusal(request)
        if refusal is not None:
            reason, rsd = refusal
            log.warning(
                "association from %s (%s) to %s rejected: %s",
                self.calling_ae, self.address, self.called_ae, reason,
            )
            self.how = "rejected"
            try:
                self.sock.sendall(pdu.encode_associate_rj(*rsd))
            except OSError:
                pass
            return False
        results = negotiate(request, self.supported)
        self._contexts = {
            context.context_id: (context.abstract_syntax, syntax)
            for context, (_, result, syntax) in zip(request.contexts, results, strict=True)
            if result == pdu.ACCEPTANCE
        }
        self._send(
            pdu.encode_associate_ac(
                request, results, max_pdu=self.options.max_pdu,
                implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                implementation_version_name=IMPLEMENTATION_VERSION_NAME,
            )
        )
        self.accepted = True
        log.info(
            "association from %s (%s) accepted; %d open",
            self.calling_ae, self.address, self.open_count(),
        )
        return True

    def _refusal(self, request: pdu.AssociateRequest) -> tuple[str, tuple[int, int, int]] | None:
        if not request.protocol_version & 1:
            return "protocol version not supported", pdu.PROTOCOL_VERSION_NOT_SUPPORTED
        if request.application_context != pdu.APPLICATION_CONTEXT:
            return "not the DICOM application context", pdu.APPLICATION_CONTEXT_NOT_SUPPORTED
        refusal = access_refusal(request.called_ae, request.calling_ae, self.settings)
        if refusal is not None:  # first, as on the pynetdicom path
            return refusal.reason, refusal.rsd
        if self.open_count() > self.options.max_associations:
            return (
                f"{self.options.max_associations} associations are open ([dicom] "
                "max_associations)", LOCAL_LIMIT_EXCEEDED,
            )
        return None

    # -- PDUs -------------------------------------------------------------------------------

    def _run(self) -> None:
        header = bytearray(pdu.HEADER_SIZE)
        header_view = memoryview(header)
        buffer = memoryview(self._buffer)
        while not self._stopped:
            self._read(header_view)
            pdu_type, length = pdu.header(header)
            if pdu_type == pdu.P_DATA_TF:
                if length > self.options.max_pdu:
                    log.warning(
                        "association from %s (%s) sent a %d-byte PDU, more than the %d we "
                        "accept: aborting it",
                        self.calling_ae, self.address, length, self.options.max_pdu,
                    )
                    self._abort(pdu.ABORT_INVALID_PARAMETER)
                body = buffer[:length]
                self._read(body)
                self._p_data(body)
            elif pdu_type == pdu.RELEASE_RQ:
                self._skip(length)
                if self._pending is not None:
                    self._abort(pdu.ABORT_UNEXPECTED_PDU)
                self.how = "released"
                self._send(pdu.encode_release_rp())
                return
            elif pdu_type == pdu.ABORT:
                self.how = "aborted"
                return
            else:
                self._abort(
                    pdu.ABORT_UNEXPECTED_PDU if pdu.ASSOCIATE_RQ <= pdu_type <= pdu.ABORT
                    else pdu.ABORT_UNRECOGNISED_PDU
                )

    def _skip(self, length: int) -> None:
        if length > 1024:
            self._abort(pdu.ABORT_INVALID_PARAMETER)
        self._read(memoryview(bytearray(length)))

    def _p_data(self, body: memoryview) -> None:
        try:
            values = list(pdu.iter_pdvs(body))
        except pdu.PduError:
            self._abort(pdu.ABORT_INVALID_PARAMETER)
        for context_id, control, fragment in values:
            if context_id not in self._contexts:
                self._abort(pdu.ABORT_INVALID_PARAMETER)
            if control & 1:  # command
                if self._pending is not None:
                    self._abort(pdu.ABORT_UNEXPECTED_PDU)
                self._command += fragment
                if len(self._command) > 65536:
                    self._abort(pdu.ABORT_INVALID_PARAMETER)
                if control & 2:
                    command = bytes(self._command)
                    self._command.clear()
                    self._on_command(context_id, command)
            else:
                pending = self._pending
                if pending is None or pending.context_id != context_id:
                    self._abort(pdu.ABORT_UNEXPECTED_PDU)
                self._write(pending, fragment)
                if control & 2:
                    self._finish_store(pending)

    def _send_response(self, context_id: int, command: bytes) -> None:
        self._send(pdu.encode_command_pdata(context_id, command))

    # -- DIMSE ------------------------------------------------------------------------------

    def _on_command(self, context_id: int, data: bytes) -> None:
        try:
            command = pdu.parse_command(data)
        except pdu.PduError:
            self._abort(pdu.ABORT_INVALID_PARAMETER)
        if command.command_field == pdu.C_ECHO_RQ and not command.has_data_set:
            self._send_response(
                context_id,
                pdu.encode_response(pdu.C_ECHO_RSP, command.message_id, VERIFICATION, 0),
            )
        elif command.command_field == pdu.C_STORE_RQ and command.has_data_set:
            self._pending = self._start_store(context_id, command)
        elif command.command_field == pdu.C_CANCEL_RQ:
            return  # nothing to cancel: every request here is answered at once
        else:
            log.warning(
                "association from %s (%s) sent DIMSE command 0x%04X on a storage "
                "association: aborting it", self.calling_ae, self.address, command.command_field,
            )
            self._abort(pdu.ABORT_UNEXPECTED_PDU)

    def _start_store(self, context_id: int, command: pdu.Command) -> _Pending:
        syntax = self._contexts[context_id][1]
        sop_class = command.sop_class_uid[:64]
        sop_instance = command.sop_instance_uid[:64]
        pending = _Pending(
            context_id, command.message_id, sop_class, sop_instance, syntax, None, None
        )
        try:
            pending.fd, pending.path = receive.open_spool_file()
            self._write(
                pending,
                pdu.file_meta(
                    sop_class, sop_instance, syntax,
                    implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                    implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                    source_ae=self.calling_ae[:16],
                ),
            )
        except OSError as exc:
            self._spool_failed(pending, exc)
        return pending

    def _write(self, pending: _Pending, data: bytes | memoryview) -> None:
        if pending.fd is None:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(pending.fd, view)
                view = view[written:]
        except OSError as exc:
            self._spool_failed(pending, exc)

    def _spool_failed(self, pending: _Pending, exc: OSError) -> None:
        error = files.storage_error(exc)
        log.error("C-STORE from %s not spooled: %s", self.calling_ae, error.cause)
        status = (
            receive.OUT_OF_RESOURCES if isinstance(error, OutOfSpaceError) else receive.NOT_STORED
        )
        pending.failure = receive.Outcome(status, "could not write the instance, try later")
        self._close_spool(pending, remove=True)

    def _close_spool(self, pending: _Pending, *, remove: bool) -> None:
        if pending.fd is not None:
            try:
                os.close(pending.fd)
            except OSError:
                pass
            pending.fd = None
        if remove and pending.path is not None:
            try:
                pending.path.unlink(missing_ok=True)
            except OSError:
                pass
            pending.path = None

    def _finish_store(self, pending: _Pending) -> None:
        self._pending = None
        outcome = pending.failure
        if outcome is None:
            if pending.fd is not None:
                files.start_writeback(pending.fd)
            self._close_spool(pending, remove=False)
            assert pending.path is not None
            outcome = receive.store_status(
                pending.path, calling_ae=self.calling_ae, called_ae=self.called_ae,
                request=receive.Request(
                    pending.sop_class_uid, pending.sop_instance_uid, pending.transfer_syntax_uid
                ),
            )
            files.remove_quietly(pending.path)  # refused before store_instance took it over
        if outcome.stored is not None:
            self.counts.stored += 1
            self.counts.size += outcome.stored.size
            self.counts.series.add(outcome.stored.series_instance_uid)
        else:
            self.counts.failed += 1
            log.info(
                "C-STORE from %s answered 0x%04X: %s",
                self.calling_ae, outcome.status, outcome.comment,
            )
        self._send_response(
            pending.context_id,
            pdu.encode_response(
                pdu.C_STORE_RSP, pending.message_id, pending.sop_class_uid, outcome.status,
                sop_instance_uid=pending.sop_instance_uid,
                error_comment=receive.comment(outcome.comment) if outcome.status else "",
            ),
        )

    def _drop_pending(self) -> None:
        """A data set cut off by the end of the association is not stored."""
        if self._pending is not None:
            self._close_spool(self._pending, remove=True)
            self._pending = None
