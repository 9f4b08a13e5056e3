"""C-ECHO and C-STORE SCU: talk to a known peer (``[[peers]]``) as ``settings.ae_title``.

Used by ``pacs-hub echo`` / ``pacs-hub send`` and, later, by the results outbox. :func:`send`
checks the status of every C-STORE response; an instance whose response never came (pynetdicom
returns an empty dataset after a lost response, or the association aborted) is *unconfirmed*
and is sent again, alone with the other unconfirmed ones, on a fresh association.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification
from pynetdicom.status import code_to_category

from hub.dimse import pynetdicom_race
from hub.errors import HubError
from hub.settings import Peer, get_settings

log = logging.getLogger(__name__)
pynetdicom_race.install()

#: Maximum PDU we offer to receive (128 KiB was ~30 % faster than pynetdicom's 16 KiB here).
MAX_PDU = 128 * 1024
#: Uncompressed transfer syntaxes offered for every SOP class as a fallback.
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: Presentation contexts one association may propose (DICOM PS3.8 limit).
MAX_CONTEXTS = 128

#: ``progress(done, total)`` after each instance that got a final answer.
Progress = Callable[[int, int], None]


class PeerError(HubError):
    """A DICOM peer is unknown, unreachable, or refused or rejected us."""

    exit_code = 7


@dataclass
class Failure:
    """One instance that was not stored: its file, the status code (if any) and why."""

    path: Path
    reason: str
    status: int | None = None


@dataclass
class SendReport:
    """What :func:`send` achieved: counts, failures with their status codes, and timing."""

    peer: str
    total: int
    sent: list[Path] = field(default_factory=list)
    warnings: list[tuple[Path, int]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    associations: int = 0
    resent: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every instance was stored (success or warning)."""
        return not self.failed


@dataclass
class _Item:
    path: Path
    sop_class: str
    transfer_syntax: str


def find_peer(name_or_ae: str) -> Peer:
    """The configured peer called ``name_or_ae`` (by name, else by AE title)."""
    peers = get_settings().peers
    for peer in peers:
        if peer.name == name_or_ae:
            return peer
    for peer in peers:
        if peer.ae_title == name_or_ae:
            return peer
    known = ", ".join(p.name for p in peers) or "none"
    raise PeerError(
        f"unknown peer '{name_or_ae}' (configured peers: {known})",
        "add it to the PACS_HUB_CONFIG file as [[peers]] with name, ae_title, host and port",
    )


def _describe(peer: Peer) -> str:
    return f"{peer.name} ({peer.ae_title}@{peer.host}:{peer.port})"


def _nodelay(event: evt.Event) -> None:
    """On connection: disable Nagle's algorithm, and note that TCP connected."""
    sock = getattr(event.assoc.dul.socket, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    event.assoc.hub_connected = True  # type: ignore[attr-defined]


def _make_ae(timeout: float) -> AE:
    ae = AE(ae_title=get_settings().ae_title)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    return ae


def _why_not_connected(peer: Peer, timeout: float) -> tuple[str, str]:
    """Cause and fix for an association that was neither accepted, rejected nor aborted."""
    try:
        with socket.create_connection((peer.host, peer.port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        return "connection refused", "start the peer or correct host/port in [[peers]]"
    except TimeoutError:
        return (
            f"no answer within {timeout:g} s",
            "check that the host is reachable and no firewall drops the port",
        )
    except OSError as exc:
        return f"cannot connect: {exc.strerror or exc}", "correct host/port in [[peers]]"
    return "connection failed, then succeeded on a retry", "try again"


def _associate(ae: AE, peer: Peer, timeout: float) -> Association:
    assoc = ae.associate(
        peer.host, peer.port, ae_title=peer.ae_title, max_pdu=MAX_PDU,
        evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay)],
    )
    if assoc.is_established:
        return assoc
    where = _describe(peer)
    if not getattr(assoc, "hub_connected", False):
        cause, fix = _why_not_connected(peer, timeout)
        raise PeerError(f"{where}: {cause}", fix)
    if assoc.is_rejected:
        raise PeerError(
            f"{where} rejected the association",
            f"make sure the peer knows calling AE '{ae.ae_title}' and answers to called AE "
            f"'{peer.ae_title}', and that it accepts the SOP classes sent",
        )
    if assoc.is_aborted:
        raise PeerError(
            f"{where} aborted the association",
            "check the peer's log; it may refuse our AE title or presentation contexts",
        )
    raise PeerError(
        f"{where}: no association answer within {timeout:g} s",
        "check that the port belongs to a DICOM service, or raise the timeout",
    )


def echo(peer: Peer, timeout: float = 10.0) -> float:
    """C-ECHO ``peer``; returns the round trip in seconds (association included)."""
    ae = _make_ae(timeout)
    ae.add_requested_context(Verification)
    start = time.perf_counter()
    assoc = _associate(ae, peer, timeout)
    try:
        rsp = assoc.send_c_echo()
    finally:
        if assoc.is_established:
            assoc.release()
    status = rsp.get("Status") if rsp is not None else None
    if status is None:
        raise PeerError(
            f"{_describe(peer)}: no C-ECHO response within {timeout:g} s",
            "check the peer's log, or raise the timeout",
        )
    if status != 0:
        raise PeerError(
            f"{_describe(peer)}: C-ECHO answered status 0x{int(status):04X}",
            "check the peer's log for why it fails verification",
        )
    return time.perf_counter() - start


def _scan(paths: Iterable[Path], report: SendReport) -> list[_Item]:
    items: list[_Item] = []
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError) as exc:
            report.failed.append(Failure(path, f"not a readable DICOM file: {exc}"))
            continue
        sop_class = ds.get("SOPClassUID")
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
        if not sop_class or not ds.get("SOPInstanceUID") or not syntax:
            report.failed.append(
                Failure(path, "missing SOPClassUID, SOPInstanceUID or TransferSyntaxUID")
            )
            continue
        items.append(_Item(path, str(sop_class), str(syntax)))
    return items


def _contexts(items: Sequence[_Item]) -> list[tuple[str, list[str]]]:
    """One uncompressed context per SOP class, plus one per compressed syntax present."""
    wanted: dict[tuple[str, tuple[str, ...]], None] = {}
    for item in items:
        wanted[(item.sop_class, UNCOMPRESSED)] = None
        if item.transfer_syntax not in UNCOMPRESSED:
            wanted[(item.sop_class, (item.transfer_syntax,))] = None
    if len(wanted) > MAX_CONTEXTS:
        raise PeerError(
            f"the input needs {len(wanted)} presentation contexts, more than {MAX_CONTEXTS}",
            "send fewer kinds of objects (SOP classes / transfer syntaxes) at once",
        )
    return [(sop, list(syntaxes)) for sop, syntaxes in wanted]


def _load_for(assoc: Association, item: _Item) -> pydicom.Dataset | str:
    """The dataset to send, decompressed when the peer did not accept its syntax."""
    try:
        ds = pydicom.dcmread(item.path)
    except (InvalidDicomError, OSError, ValueError) as exc:
        return f"cannot read the file: {exc}"
    accepted = {
        (cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts
    }
    syntax = UID(item.transfer_syntax)
    if syntax.is_compressed and (item.sop_class, item.transfer_syntax) not in accepted:
        try:
            ds.decompress(generate_instance_uid=False)  # lossless: same instance
        except Exception as exc:  # any decoder failure: report it for this file
            return f"peer refused {syntax.name} and decompressing failed: {exc}"
    return ds


def _store_round(
    assoc: Association, items: list[_Item], report: SendReport, done: Callable[[], None]
) -> list[_Item]:
    """Send ``items`` on ``assoc``; returns those whose response never came."""
    unconfirmed: list[_Item] = []
    for index, item in enumerate(items):
        if not assoc.is_established:
            unconfirmed.extend(items[index:])
            break
        ds = _load_for(assoc, item)
        if isinstance(ds, str):
            report.failed.append(Failure(item.path, ds))
            done()
            continue
        try:
            rsp = assoc.send_c_store(ds)
        except ValueError as exc:  # no accepted presentation context for this dataset
            report.failed.append(Failure(item.path, f"peer accepted no context: {exc}"))
            done()
            continue
        status = rsp.get("Status") if rsp is not None else None
        if status is None:
            unconfirmed.append(item)
            continue
        category = code_to_category(int(status))
        if category == "Success":
            report.sent.append(item.path)
        elif category == "Warning":
            report.sent.append(item.path)
            report.warnings.append((item.path, int(status)))
        else:
            report.failed.append(
                Failure(item.path, f"C-STORE {category.lower()}", int(status))
            )
        done()
    return unconfirmed


def send(
    peer: Peer,
    paths: Iterable[str | Path],
    progress: Progress | None = None,
    *,
    timeout: float = 30.0,
    retries: int = 3,
) -> SendReport:
    """C-STORE the DICOM files ``paths`` to ``peer`` over one association.

    Files that are not DICOM are reported as failed and the rest still sent. Instances without
    a response are resent on a new association, at most ``retries`` times. Raises
    :class:`PeerError` when no association can be opened at all.
    """
    files = [Path(p) for p in paths]
    report = SendReport(peer=peer.name, total=len(files))
    start = time.perf_counter()
    finished = 0

    def done() -> None:
        nonlocal finished
        finished += 1
        if progress is not None:
            progress(finished, report.total)

    pending = _scan(files, report)
    for _ in report.failed:
        done()
    attempt = 0
    while pending:
        ae = _make_ae(timeout)
        for sop_class, syntaxes in _contexts(pending):
            ae.add_requested_context(sop_class, syntaxes)
        try:
            assoc = _associate(ae, peer, timeout)
        except PeerError:
            if attempt == 0:
                raise
            unconfirmed = pending  # a retry could not connect: counts as one attempt
        else:
            report.associations += 1
            try:
                unconfirmed = _store_round(assoc, pending, report, done)
            finally:
                if assoc.is_established:
                    assoc.release()
        if not unconfirmed:
            break
        attempt += 1
        log.warning(
            "%d instance(s) unconfirmed by %s; attempt %d of %d",
            len(unconfirmed), peer.name, attempt, retries,
        )
        if attempt > retries:
            for item in unconfirmed:
                report.failed.append(Failure(item.path, "no C-STORE response (unconfirmed)"))
                done()
            break
        report.resent += len(unconfirmed)
        pending = unconfirmed
    report.seconds = time.perf_counter() - start
    log.info(
        "sent %d of %d instances to %s in %.2f s (%d failed)",
        len(report.sent), report.total, peer.name, report.seconds, len(report.failed),
    )
    return report
