"""Query/Retrieve SCP over what the hub holds: C-FIND, C-GET and C-MOVE, Patient and Study Root.

The SCP (:mod:`hub.dimse.scp`) calls :func:`add_qr_contexts` on its AE after adding the storage
contexts, and binds :func:`qr_handlers`. Finding is :mod:`hub.dimse.qr_query` (index first,
then one stored header per study/series); identifiers are checked by
:mod:`hub.dimse.qr_identifier`.

* **Access**: only known peers (calling AE title in ``[[peers]]``) may query or retrieve, even
  when storage is open to all; others get a failure status whose ErrorComment says so.
* **C-FIND** answers one Pending per match, then Success; a C-CANCEL stops it.
* **C-GET** sends the matches back over the same association. The requestor proposes the
  storage contexts with the SCP role (SCP/SCU role selection); we accept both roles.
* **C-MOVE** sends to a ``[[peers]]`` AE title only (else 0xA801, nothing sent), over a
  sub-association (:mod:`hub.dimse.qr_send`: stored files keep their transfer syntax, and are
  decompressed only for a peer that did not accept it).

Logs carry levels, AE titles and counts, never identifier values (they may name a patient).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydicom import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from hub.dimse.qr_identifier import Query, QueryError, parse_query
from hub.dimse.qr_query import find, instances_of
from hub.dimse.qr_send import CANCEL, PENDING, SubAssociation, datasets, move_contexts
from hub.dimse.syntaxes import STORAGE_SYNTAXES
from hub.settings import Peer, get_settings

if TYPE_CHECKING:
    from hub.storage.models import Instance

log = logging.getLogger(__name__)

QR_CONTEXTS = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
#: Transfer syntaxes we can send instances in over C-GET (the SCP's storage syntaxes).
STORE_SYNTAXES = STORAGE_SYNTAXES
#: Largest PDU we offer to receive on a C-MOVE sub-association.
MAX_PDU = 128 * 1024
SUCCESS = 0x0000
MOVE_DESTINATION_UNKNOWN = 0xA801
#: Failure (Cxxx, "unable to process") for a calling AE title that is not a known peer.
UNKNOWN_CALLER = 0xC001
#: Failure for a database or disk fault while searching.
INTERNAL_ERROR = 0xC002
#: Never contacted: the destination yielded for a refused C-MOVE (no sub-operations follow).
_NOWHERE = ("", 0)

Status = int | Dataset
Handler = tuple[evt.EventType, Callable[..., Any]]


def add_qr_contexts(ae: AE) -> None:
    """Support Patient/Study Root FIND, GET and MOVE on ``ae``, and C-GET's storage contexts.

    For C-GET the requestor proposes each storage context with the SCP role; we accept both
    roles, so a plain storescu (no role selection) still stores as before. Call it after the
    storage contexts are added: pynetdicom resets a context's roles when it is added again.

    Also stops pynetdicom from logging request and response identifiers (at INFO), which
    would put patient names and IDs into the logs.
    """
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    for sop_class in QR_CONTEXTS:
        ae.add_supported_context(sop_class)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(
            context.abstract_syntax, list(STORE_SYNTAXES), scu_role=True, scp_role=True
        )


def qr_handlers() -> list[Handler]:
    """The event handlers of the Query/Retrieve SCP, to bind on the SCP's AE."""
    return [
        (evt.EVT_C_FIND, handle_find),
        (evt.EVT_C_GET, handle_get),
        (evt.EVT_C_MOVE, handle_move),
    ]


class Refused(Exception):
    """A request answered with one failure status and comment, nothing found or sent."""

    def __init__(self, status: int, comment: str) -> None:
        super().__init__(comment)
        self.status = status
        self.comment = comment


def handle_find(event: evt.Event) -> Iterator[tuple[Status, Dataset | None]]:
    """EVT_C_FIND: one Pending per match, then Success; failures carry an ErrorComment."""
    start = time.perf_counter()
    calling = _calling_ae(event)
    count = 0
    try:
        query = _checked_query(event, calling, "C-FIND", retrieve=False)
        for match in find(query):
            if event.is_cancelled:
                log.info("C-FIND from %s cancelled after %d match(es)", calling, count)
                yield CANCEL, None
                return
            count += 1
            yield PENDING, match.identifier
    except Refused as refused:
        yield _status(refused.status, refused.comment), None
        return
    except Exception:  # database or disk: answer, don't let pynetdicom say "handler error"
        log.exception("C-FIND from %s failed after %d match(es)", calling, count)
        yield _status(INTERNAL_ERROR, "the hub failed to search; see its log"), None
        return
    finally:
        _close_db()
    log.info("C-FIND %s level (%s root) from %s: %d match(es) in %.2f s",
             query.level, query.root, calling, count, time.perf_counter() - start)
    yield SUCCESS, None


def handle_get(event: evt.Event) -> Iterator[Any]:
    """EVT_C_GET: the number of instances, then each as a C-STORE on this association."""
    calling = _calling_ae(event)
    try:
        instances = _instances(event, calling, "C-GET")
    except Refused as refused:
        _amend_final_response(event, refused.status, refused.comment)
        yield 0
        return
    log.info("C-GET from %s: %d instance(s)", calling, len(instances))
    yield len(instances)
    yield from datasets(event, instances, lambda: event.assoc)


def handle_move(event: evt.Event) -> Iterator[Any]:
    """EVT_C_MOVE: the destination peer, the number of instances, then each instance."""
    calling = _calling_ae(event)
    destination = str(event.move_destination or "").strip()
    try:
        peer = _destination(calling, destination)
        instances = _instances(event, calling, "C-MOVE")
    except Refused as refused:
        _amend_final_response(event, refused.status, refused.comment)
        if refused.status == MOVE_DESTINATION_UNKNOWN:
            yield None, None
            return
        yield _NOWHERE
        yield 0
        return
    sub = SubAssociation()
    log.info("C-MOVE from %s to %s: %d instance(s)", calling, peer.name, len(instances))
    yield peer.host, peer.port, {
        "contexts": move_contexts(instances),
        "max_pdu": MAX_PDU,
        "evt_handlers": [(evt.EVT_CONN_OPEN, sub.opened)],
    }
    yield len(instances)
    yield from datasets(event, instances, lambda: sub.assoc)


# -- access, identifiers, matches -------------------------------------------------------------


def _calling_ae(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _refuse_unknown_caller(calling: str, verb: str) -> None:
    if calling in {peer.ae_title for peer in get_settings().peers}:
        return
    comment = f"calling AE {calling} is not a known peer; add it to [[peers]]"
    if len(comment) > 64:
        comment = f"AE {calling} is not a known peer; add it to [[peers]]"
    log.warning("%s refused: calling AE %s is not a [[peers]] AE title", verb, calling)
    raise Refused(UNKNOWN_CALLER, comment)


def _checked_query(event: evt.Event, calling: str, verb: str, *, retrieve: bool) -> Query:
    _refuse_unknown_caller(calling, verb)
    try:
        return parse_query(
            event.identifier, str(event.request.AffectedSOPClassUID),
            retrieve=retrieve, ae_title=get_settings().ae_title,
        )
    except QueryError as exc:
        log.warning("%s from %s refused: %s", verb, calling, exc.loggable)
        raise Refused(exc.status, exc.cause[:64]) from None
    except Exception as exc:  # the identifier did not decode
        log.warning("%s from %s refused: undecodable identifier (%s)", verb, calling,
                    type(exc).__name__)
        raise Refused(0xC000, "the identifier cannot be decoded") from None


def _destination(calling: str, destination: str) -> Peer:
    _refuse_unknown_caller(calling, "C-MOVE")
    for peer in get_settings().peers:
        if peer.ae_title == destination:
            return peer
    log.warning("C-MOVE from %s refused: destination %s is not a [[peers]] AE title",
                calling, destination)
    comment = f"move destination {destination} unknown; add it to [[peers]]"
    raise Refused(MOVE_DESTINATION_UNKNOWN, comment[:64])


def _instances(event: evt.Event, calling: str, verb: str) -> list[Instance]:
    """The instances a retrieve request names (its identifier checked first)."""
    try:
        query = _checked_query(event, calling, verb, retrieve=True)
        found: dict[int, Instance] = {}
        for match in find(query, retrieve=True):
            for instance in instances_of(match):
                found.setdefault(instance.pk, instance)
        if len(found) > 0xFFFF:
            raise Refused(0xC000, f"{len(found)} instances match; retrieve at most 65535")
        return list(found.values())
    except Refused:
        raise
    except Exception:
        log.exception("%s from %s failed while searching", verb, calling)
        raise Refused(INTERNAL_ERROR, "the hub failed to search; see its log") from None
    finally:
        _close_db()


def _status(status: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment
    return ds


def _close_db() -> None:
    """Close this association thread's database connections (Django keeps one per thread)."""
    from django.db import connections

    connections.close_all()


def _amend_final_response(event: evt.Event, status: int, comment: str) -> None:
    """Give the final response to this C-GET/C-MOVE ``status`` and ``comment``.

    pynetdicom's C-GET/C-MOVE handler contract has no way to answer a failure with an
    ErrorComment before sub-operations start (C-MOVE even asks for the destination first).
    So a refused request yields "no sub-operations" (or an unknown destination), and this
    one-shot wrapper sets the status and comment on that response as it is sent.
    """
    dimse = event.assoc.dimse
    original = dimse.send_msg
    message_id = event.request.MessageID

    def send_msg(primitive: Any, context_id: int) -> None:
        if getattr(primitive, "MessageIDBeingRespondedTo", None) == message_id:
            dimse.send_msg = original  # type: ignore[method-assign]
            primitive.Status = status
            primitive.ErrorComment = comment
        original(primitive, context_id)

    dimse.send_msg = send_msg  # type: ignore[method-assign]
