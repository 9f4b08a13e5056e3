"""The hub's DICOM SCP: Verification, Storage (and Query/Retrieve from :mod:`hub.dimse.qr`).

One pynetdicom AE answers as ``settings.ae_title`` on ``settings.dicom_port``:

* **Access**, decided when the A-ASSOCIATE-RQ arrives (:mod:`hub.dimse.access`): the called AE
  title must be ours; with ``[dicom] require_known_callers`` the calling AE title must be a
  ``[[peers]]`` one; below the ``[storage] min_free_mb`` watermark every association is
  rejected (transient, local limit exceeded); pynetdicom rejects beyond
  ``max_associations`` the same way.
* **Limits**: ACSE/DIMSE/network timeouts and the largest PDU we receive from ``[dicom]``;
  a supervisor thread aborts any association open longer than ``max_association_seconds``,
  however slowly it trickles, so one peer cannot hold a slot for ever.
* **C-STORE** (:mod:`hub.dimse.receive`): received in chunks into the spool, then
  :func:`hub.storage.store.store_instance` makes it durable and indexed before Success.
* **Storage associations** (only Verification and storage SOP classes proposed, no extended
  negotiation) are served by the hub's own read loop (:mod:`hub.dimse.store_loop`), several
  times cheaper per image than pynetdicom's threaded reactor; the server peeks at each new
  connection's A-ASSOCIATE-RQ to choose. Everything else (query/retrieve, C-GET with its
  storage sub-operations) is pynetdicom's.
* **Series completion**: when an association has ended (released or aborted) and its thread is
  gone, the supervisor hands the series it stored to
  :func:`hub.routing.completion.association_released`.

Logs carry AE titles, addresses and counts, never patient data.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from hub.dimse import pynetdicom_race, receive, store_loop
from hub.dimse.access import LOCAL_LIMIT_EXCEEDED, Refusal, access_refusal
from hub.dimse.store_loop import StoreLoop
from hub.dimse.syntaxes import STORAGE_SYNTAXES
from hub.errors import HubError
from hub.settings import get_settings

log = logging.getLogger(__name__)
pynetdicom_race.install()  # C-GET/C-MOVE sub-operations send C-STOREs through pynetdicom

#: Transfer syntaxes accepted for every storage SOP class, in our order of preference.
TRANSFER_SYNTAXES = list(STORAGE_SYNTAXES)
#: Seconds between two rounds of the supervisor (time cap, ended associations).
SUPERVISE_INTERVAL = 0.2
#: Seconds an aborted association gets to end before its socket is shut down.
ABORT_GRACE = 1.0

Handler = tuple[evt.EventType, Callable[..., Any]]


class ScpError(HubError):
    """The SCP could not start (port in use, bad address)."""

    exit_code = 7


@dataclass
class _Tracked:
    """What the SCP knows of one association while it lives."""

    assoc: Association
    address: str
    opened: float = field(default_factory=time.monotonic)
    calling_ae: str = ""
    stored: int = 0
    failed: int = 0
    size: int = 0
    series: set[str] = field(default_factory=set)
    capped: bool = False


class _Server(ThreadedAssociationServer):
    """pynetdicom's server, with each new connection given to :meth:`SCP._route`."""

    hub_scp: SCP

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(
            target=self.hub_scp._route, args=(self, request, client_address),
            name="scp-connection", daemon=True,
        ).start()


class SCP:
    """The SCP; :meth:`start` listens in background threads, :meth:`stop` ends it all.

    ``port`` 0 binds a free port (tests); :attr:`port` is the bound one. ``store_loop=False``
    leaves storage associations to pynetdicom too (tests of that path).
    """

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        ae_title: str | None = None,
        store_loop: bool = True,
    ) -> None:
        self.settings = get_settings()
        self.host = host
        self.requested_port = self.settings.dicom_port if port is None else port
        self.ae_title = ae_title or self.settings.ae_title
        if ae_title and ae_title != self.settings.ae_title:
            self.settings = self.settings.model_copy(update={"ae_title": ae_title})
        self._server: ThreadedAssociationServer | None = None
        self._tracked: dict[Association, _Tracked] = {}
        self.use_store_loop = store_loop
        self._loops: set[StoreLoop] = set()
        self._loop_supported: dict[str, tuple[str, ...]] = {}
        self._loop_others: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._warned_no_routing = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> SCP:
        """Sweep the spool, bind the port and serve; raises :class:`ScpError` if it cannot."""
        from hub.db import setup

        setup()
        stale = receive.sweep_spool(self.settings.dicom.max_association_seconds)
        log.info("removed %d stale spool file(s)", stale)
        ae = self._make_ae()
        self._stopping.clear()
        receive.receive_into_spool()
        try:
            server = ae.make_server(
                (self.host, self.requested_port),
                ae_title=self.ae_title,
                evt_handlers=self._handlers(),
                server_class=_Server,
            )
        except OSError as exc:
            receive.stop_receiving_into_spool()
            raise ScpError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}",
                "choose a free port with --port or PACS_HUB_DICOM_PORT, or stop the other "
                "process using it",
            ) from None
        server.hub_scp = self
        threading.Thread(
            target=server.serve_forever, name="scp-acceptor", daemon=True
        ).start()
        ae._servers.append(server)  # as AE.start_server does: ae.shutdown() stops it too
        self._server = server
        self._supervisor = threading.Thread(
            target=self._supervise, name="scp-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info("SCP %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            raise RuntimeError("the SCP is not started")
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop listening, abort open associations and report their series; idempotent."""
        if self._server is None:
            return
        self._stopping.set()
        server, self._server = self._server, None
        server.shutdown()
        enders = [
            threading.Thread(target=force_end, args=(tracked.assoc,), daemon=True)
            for tracked in self._snapshot()
            if tracked.assoc.is_alive()
        ]
        for ender in enders:
            ender.start()
        for loop in self._loops_snapshot():
            loop.stop()
        for ender in enders:
            ender.join(timeout=ABORT_GRACE + 5)
        deadline = time.monotonic() + ABORT_GRACE + 5
        while self._loops_snapshot() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        self._finish_ended(wait=True)
        receive.stop_receiving_into_spool()
        log.info("SCP %s stopped", self.ae_title)

    def __enter__(self) -> SCP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def active_associations(self) -> int:
        """Associations open now (pynetdicom's and the store loop's)."""
        alive = sum(1 for tracked in self._snapshot() if tracked.assoc.is_alive())
        return alive + len(self._loops_snapshot())

    # -- configuration ----------------------------------------------------------------------

    def _make_ae(self) -> AE:
        options = self.settings.dicom
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = options.max_associations
        ae.acse_timeout = options.acse_timeout
        ae.dimse_timeout = options.dimse_timeout
        ae.network_timeout = options.network_timeout
        ae.maximum_pdu_size = options.max_pdu
        ae.require_called_aet = False  # checked in _on_requested, with a log line
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
        from hub.dimse import qr

        qr.add_qr_contexts(ae)  # after the storage contexts: it adds the C-GET roles
        storage = {context.abstract_syntax for context in AllStoragePresentationContexts}
        storage.add(Verification)
        self._loop_supported = {
            str(context.abstract_syntax): tuple(str(s) for s in context.transfer_syntax)
            for context in ae.supported_contexts
            if context.abstract_syntax in storage
        }
        self._loop_others = frozenset(
            str(context.abstract_syntax) for context in ae.supported_contexts
            if context.abstract_syntax not in storage
        )
        return ae

    def _handlers(self) -> list[Handler]:
        handlers: list[Handler] = [
            (evt.EVT_CONN_OPEN, self._on_open),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
        ]
        from hub.dimse import qr

        return [*handlers, *qr.qr_handlers()]

    # -- new connections: the store loop or pynetdicom -----------------------------------------

    def _route(self, server: _Server, sock: socket.socket, address: Any) -> None:
        """Serve a new connection: in the store loop if its request is for it, else pynetdicom."""
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        choice, request_pdu = "other", b""
        if self.use_store_loop:
            try:
                choice, request_pdu = store_loop.peek_request(
                    sock, self.settings.dicom.acse_timeout
                )
                if choice == "loop":
                    from hub.dimse import pdu

                    request = pdu.parse_associate_rq(request_pdu)
                    if not store_loop.wants_loop(request, self._loop_others):
                        choice = "other"
            except Exception as exc:  # a malformed request: pynetdicom answers it as ever
                log.debug("connection from %s left to pynetdicom: %s", where, exc)
                choice = "other"
        if self._stopping.is_set() or choice == "closed":
            server.shutdown_request(sock)
            return
        if choice == "other":
            sock.settimeout(None)
            server.process_request_thread(sock, address)
            return
        loop = store_loop.StoreLoop(
            sock, where, request_pdu, settings=self.settings,
            supported=self._loop_supported, open_count=lambda: self.active_associations,
        )
        with self._lock:
            self._loops.add(loop)
        if self._stopping.is_set():  # stop() may have taken its snapshot before the add
            loop.stop()
        try:
            loop.serve()
            self._loop_ended(loop)  # still counted as open: stop() waits for this report
        finally:
            with self._lock:
                self._loops.discard(loop)

    def _loops_snapshot(self) -> list[StoreLoop]:
        with self._lock:
            return list(self._loops)

    def _loop_ended(self, loop: StoreLoop) -> None:
        if not loop.accepted:
            return
        counts = loop.counts
        log.info(
            "association from %s (%s) %s after %.1f s: %d stored (%d series, %.1f MB), "
            "%d failed",
            loop.calling_ae, loop.address, loop.how, time.monotonic() - loop.opened,
            counts.stored, len(counts.series), counts.size / 1e6, counts.failed,
        )
        if counts.series:
            self._association_released(counts.series)

    # -- event handlers (association threads) -------------------------------------------------

    def _on_open(self, event: evt.Event) -> None:
        receive.tune_receiving(event.assoc, self.settings.dicom.max_pdu)
        sock = getattr(event.assoc.dul.socket, "socket", None)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # accepted sockets block for ever: a peer stopping inside a PDU would hold
                # the association's reader; this makes it time out like an idle association
                sock.settimeout(self.settings.dicom.network_timeout)
            except OSError:  # the peer already went away
                pass
        address = event.address
        where = f"{address[0]}:{address[1]}" if address else "?"
        with self._lock:
            self._tracked[event.assoc] = _Tracked(event.assoc, where)

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive
        calling = str(request.calling_ae_title).strip()
        called = str(request.called_ae_title).strip()
        tracked = self._tracked.get(assoc)
        if tracked is not None:
            tracked.calling_ae = calling
        refusal = access_refusal(called, calling, self.settings)
        limit = self.settings.dicom.max_associations
        if refusal is None and self.active_associations > limit:
            refusal = Refusal(
                f"{limit} associations are open ([dicom] max_associations)",
                LOCAL_LIMIT_EXCEEDED,
            )
        if refusal is None:
            return
        log.warning(
            "association from %s (%s) to %s rejected: %s",
            calling, tracked.address if tracked else "?", called, refusal.reason,
        )
        assoc.acse.send_reject(*refusal.rsd)
        assoc.kill()

    def _on_accepted(self, event: evt.Event) -> None:
        tracked = self._tracked.get(event.assoc)
        log.info(
            "association from %s (%s) accepted; %d open",
            tracked.calling_ae if tracked else "?", tracked.address if tracked else "?",
            self.active_associations,
        )

    def _on_rejected(self, event: evt.Event) -> None:
        rsp = event.assoc.acceptor.primitive
        tracked = self._tracked.get(event.assoc)
        log.warning(
            "association from %s (%s) rejected (result %s, source %s, reason %s)",
            tracked.calling_ae if tracked else "?", tracked.address if tracked else "?",
            getattr(rsp, "result", "?"), getattr(rsp, "result_source", "?"),
            getattr(rsp, "diagnostic", "?"),
        )

    def _on_echo(self, event: evt.Event) -> int:
        return 0x0000

    def _on_store(self, event: evt.Event) -> Any:
        assoc = event.assoc
        request = event.request
        outcome = receive.store_status(
            event.dataset_path,
            calling_ae=str(assoc.requestor.ae_title).strip(),
            called_ae=str(assoc.acceptor.ae_title).strip(),
            request=receive.Request(
                str(request.AffectedSOPClassUID or ""),
                str(request.AffectedSOPInstanceUID or ""),
                str(event.context.transfer_syntax),
            ),
        )
        tracked = self._tracked.get(assoc)
        if tracked is not None:
            if outcome.stored is not None:
                tracked.stored += 1
                tracked.size += outcome.stored.size
                tracked.series.add(outcome.stored.series_instance_uid)
            else:
                tracked.failed += 1
        if outcome.stored is None:
            log.info(
                "C-STORE from %s answered 0x%04X: %s",
                tracked.calling_ae if tracked else "?", outcome.status, outcome.comment,
            )
        return outcome.as_dataset()

    # -- supervision ------------------------------------------------------------------------

    def _snapshot(self) -> list[_Tracked]:
        with self._lock:
            return list(self._tracked.values())

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_INTERVAL):
            try:
                self._cap_duration()
                self._finish_ended(wait=False)
            except Exception:  # the supervisor must survive anything
                log.exception("SCP supervisor round failed")

    def _cap_duration(self) -> None:
        limit = self.settings.dicom.max_association_seconds
        now = time.monotonic()
        for tracked in self._snapshot():
            if tracked.capped or now - tracked.opened <= limit:
                continue
            if tracked.assoc.is_alive():
                tracked.capped = True
                log.warning(
                    "association from %s (%s) open for more than %g s: aborting it",
                    tracked.calling_ae, tracked.address, limit,
                )
                threading.Thread(
                    target=force_end, args=(tracked.assoc,), name="scp-abort", daemon=True
                ).start()

    def _finish_ended(self, *, wait: bool) -> None:
        """Log and report every association whose thread has ended (all of them: ``wait``)."""
        for tracked in self._snapshot():
            if tracked.assoc.is_alive():
                if not wait:
                    continue
                tracked.assoc.join(timeout=10)
            with self._lock:
                self._tracked.pop(tracked.assoc, None)
            self._report(tracked)

    def _report(self, tracked: _Tracked) -> None:
        assoc = tracked.assoc
        if assoc.is_rejected or not tracked.calling_ae:
            return
        how = "released" if assoc.is_released else "aborted"
        if tracked.capped:
            how = "aborted (time cap)"
        seconds = time.monotonic() - tracked.opened
        log.info(
            "association from %s (%s) %s after %.1f s: %d stored (%d series, %.1f MB), "
            "%d failed",
            tracked.calling_ae, tracked.address, how, seconds, tracked.stored,
            len(tracked.series), tracked.size / 1e6, tracked.failed,
        )
        if tracked.series:
            self._association_released(tracked.series)

    def _association_released(self, series: set[str]) -> None:
        try:
            from hub.routing.completion import association_released
        except ImportError:
            if not self._warned_no_routing:
                self._warned_no_routing = True
                log.warning("hub.routing.completion is missing: series complete by quiet time")
            return
        try:
            association_released(set(series))
        except Exception:
            log.exception("recording the end of an association for %d series failed", len(series))


def force_end(assoc: Association, grace: float = ABORT_GRACE) -> None:
    """Abort ``assoc``; if it has not ended after ``grace`` seconds, shut its socket down.

    An A-ABORT waits for the association's reader, which may be stuck inside a PDU that a
    peer sends byte by byte; shutting the socket down ends that read.
    """
    try:
        assoc.abort(block=False)
    except Exception as exc:  # any state: the socket shutdown below still ends it
        log.debug("A-ABORT failed (%s); shutting the socket down", exc)
    assoc.join(grace)
    if assoc.is_alive():
        sock = getattr(assoc.dul.socket, "socket", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

