"""A fix for pynetdicom 3.0's lost-response race, installed by :func:`install`.

While ``Association.send_c_store()`` (and the other ``send_*``) waits for its response, the
association's reactor thread is meant to be paused. But the reactor marks itself paused just
*before* it checks the pause event, and ``send_*`` clears that event and, seeing "paused",
sends its request. The reactor, already past the check, then takes the message off the DIMSE
queue itself. When the peer answers within that window (a fast peer on a fast link), the
reactor takes the *response*, logs "Received unexpected C-STORE service message" and drops it;
``send_*`` waits for the DIMSE timeout, aborts the association and reports a failure.

Seen here as a C-STORE sub-operation of a C-MOVE to dcmtk's storescp failing now and then
(and as the outbox's occasional unconfirmed instance, which it resends). The fix: a response
the reactor finds while a ``send_*`` is waiting (the pause event cleared) goes back on the
queue for that ``send_*``, which is the only one waiting (DIMSE here is synchronous: one
outstanding request per association). Anything else is handled by pynetdicom as before.
"""

from __future__ import annotations

import logging
from typing import Any

from pynetdicom.association import Association

log = logging.getLogger(__name__)

_ORIGINAL = Association._serve_request


def _serve_request(self: Association, msg: Any, context_id: int) -> None:
    if not msg.is_valid_request and not self._reactor_checkpoint.is_set():
        log.debug("a %s taken by the reactor went back to the waiting sender", msg.msg_type)
        self.dimse.msg_queue.put((context_id, msg))
        return
    _ORIGINAL(self, msg, context_id)


def install() -> None:
    """Patch :class:`pynetdicom.association.Association` once (idempotent)."""
    if Association._serve_request is not _serve_request:
        Association._serve_request = _serve_request  # type: ignore[method-assign]
