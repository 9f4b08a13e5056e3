"""One delivery attempt of an outbox item: claim, C-STORE the files in order, record the outcome.

The item is claimed with a conditional UPDATE (pending and due, or sending with a stale lease),
its lease refreshed by a heartbeat thread while the SCU works. Files go in stages, one kind at
a time in the item's order (SEG, then SR): a stage starts only when every instance of the one
before it was confirmed, so the peer never gets an SR before the SEG it references, not even
when a response was lost and the SCU resends. Instances the peer confirmed are remembered, so
a later attempt sends only the rest.

Outcomes: ``sent`` (the seconds become the job's ``send`` stage timing); a failed attempt goes
back to ``pending`` with exponential backoff (``[outbox] backoff`` doubled per attempt, capped
at ``backoff_max``) and a delayed message; after ``max_attempts`` the item is ``dead`` with the
cause in ``last_error``. A peer no longer configured, or a result file gone, is dead at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, close_old_connections, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone

from hub.dimse import outbox, scu
from hub.dimse.models import OutboxItem
from hub.jobs.models import Job
from hub.jobs.services import new_owner
from hub.settings import Peer, get_settings

logger = logging.getLogger(__name__)

State = OutboxItem.State
#: Clock skew allowed between the machine that set ``next_attempt_at`` and the one claiming.
DUE_TOLERANCE = timedelta(seconds=1)


class LeaseKeeper(threading.Thread):
    """Refreshes the item's heartbeat while a delivery runs."""

    def __init__(self, item_id: int, owner: str, interval: float) -> None:
        super().__init__(name=f"outbox-lease-{item_id}", daemon=True)
        self.item_id, self.owner, self.interval = item_id, owner, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    if not OutboxItem.objects.filter(
                        pk=self.item_id, state=State.SENDING, lease_owner=self.owner
                    ).update(heartbeat_at=timezone.now()):
                        logger.warning("outbox item %s is no longer ours", self.item_id)
                        return
                except DatabaseError as exc:
                    logger.warning("outbox item %s: heartbeat failed: %s", self.item_id, exc)
        finally:
            db_connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def backoff_seconds(attempts: int) -> float:
    """Delay before the next attempt after ``attempts`` failed ones (1, 2, ...)."""
    options = get_settings().outbox
    return float(min(options.backoff * 2 ** max(0, attempts - 1), options.backoff_max))


def claim(item_id: int, owner: str, task_id: str = "") -> bool:
    """Take a due pending item, or a sending one whose lease has gone stale."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": State.SENDING, "lease_owner": owner, "heartbeat_at": now,
        "attempts": F("attempts") + 1, "updated_at": now,
    }
    if task_id:
        fields["task_id"] = task_id
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + DUE_TOLERANCE)
    if OutboxItem.objects.filter(due, pk=item_id, state=State.PENDING).update(**fields):
        return True
    stale = now - timedelta(seconds=get_settings().jobs.lease_seconds)
    return bool(
        OutboxItem.objects.filter(pk=item_id, state=State.SENDING, heartbeat_at__lt=stale)
        .update(**fields)
    )


def deliver(item_id: int, task_id: str = "") -> str:
    """Run one delivery attempt of item ``item_id``; returns what happened (logs, tests)."""
    close_old_connections()
    item = OutboxItem.objects.filter(pk=item_id).first()
    if item is None:
        logger.info("outbox item %s does not exist; message dropped", item_id)
        return "missing"
    if item.state in OutboxItem.FINISHED:
        logger.info("outbox item %s already %s; nothing to do", item_id, item.state)
        return "skipped"
    owner = new_owner()
    if not claim(item_id, owner, task_id):
        logger.info("outbox item %s is %s, not due or owned elsewhere; message dropped",
                    item_id, item.state)
        return "not-claimed"
    item.refresh_from_db()
    peer = outbox.configured_peer(item.peer_name)
    if peer is None:
        return _dead(item, owner, outbox.removed_peer_cause(item.peer_name))
    OutboxItem.objects.filter(pk=item.pk).update(
        ae_title=peer.ae_title, host=peer.host, port=peer.port
    )
    item.ae_title, item.host, item.port = peer.ae_title, peer.host, peer.port
    todo = [f for f in item.files if f.get("sop_instance_uid") not in item.confirmed]
    missing = [f for f in todo if not Path(str(f.get("path", ""))).is_file()]
    if missing:
        gone = missing[0]
        return _dead(item, owner, (
            f"the {gone.get('kind', 'result').upper()} file of job {item.job_id} is gone: "
            f"{gone.get('path')} (fix: re-run the job with 'pacs-hub jobs submit --force')"
        ))
    logger.info("outbox item %s (job %s): attempt %s, %d file(s) to %s",
                item.pk, item.job_id, item.attempts, len(todo), item.destination)
    keeper = LeaseKeeper(item.pk, owner, max(0.2, get_settings().jobs.lease_seconds / 3))
    keeper.start()
    started = time.perf_counter()
    confirmed = list(item.confirmed)
    try:
        cause = _send_stages(peer, todo, confirmed)
    except SoftTimeLimitExceeded:
        limit = outbox.delivery_time_limit(len(item.files))
        cause = f"delivery to {item.destination} timed out after {limit:g} s"
    except Exception as exc:  # a bug or an odd peer: one failed attempt, not a stuck item
        logger.exception("outbox item %s: delivery failed unexpectedly", item.pk)
        cause = f"delivery to {item.destination} failed: {type(exc).__name__}: {exc}"
    finally:
        keeper.stop()
    seconds = time.perf_counter() - started
    if cause is None:
        return _sent(item, owner, confirmed, seconds)
    return _failed(item, owner, cause, confirmed)


def _send_stages(peer: Peer, todo: list[dict[str, Any]], confirmed: list[str]) -> str | None:
    """C-STORE ``todo`` kind by kind; adds confirmed UIDs; returns the cause of a failure."""
    timeout = get_settings().outbox.timeout
    for kind, group in groupby(todo, key=lambda f: f.get("kind", "")):
        entries = list(group)
        uid_of = {Path(str(f["path"])): str(f["sop_instance_uid"]) for f in entries}
        try:
            report = scu.send(peer, list(uid_of), timeout=timeout)
        except scu.PeerError as exc:
            return f"peer {exc}"
        confirmed.extend(uid_of[path] for path in report.sent if uid_of[path] not in confirmed)
        if report.failed:
            first = report.failed[0]
            status = f" status 0x{first.status:04X}" if first.status is not None else ""
            more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
            return (
                f"peer {peer.name} ({peer.ae_title}@{peer.host}:{peer.port}) did not store the "
                f"{str(kind).upper()} {uid_of.get(first.path, first.path)}: "
                f"{first.reason}{status}{more}"
            )
    return None


def _guard(item: OutboxItem, owner: str) -> Any:
    return OutboxItem.objects.filter(pk=item.pk, state=State.SENDING, lease_owner=owner)


def _sent(item: OutboxItem, owner: str, confirmed: list[str], seconds: float) -> str:
    now = timezone.now()
    with transaction.atomic():
        if not _guard(item, owner).update(
            state=State.SENT, sent_at=now, seconds=round(seconds, 4), confirmed=confirmed,
            last_error="", lease_owner="", updated_at=now,
        ):
            logger.warning("outbox item %s was taken over meanwhile; outcome dropped", item.pk)
            return "lost"
        record_send_timing(item.job_id)
    logger.info("outbox item %s (job %s): sent to %s in %.2f s",
                item.pk, item.job_id, item.destination, seconds)
    return "sent"


def record_send_timing(job_id: int) -> None:
    """Set the job's ``send`` stage to the seconds of its sent items (row locked, merged)."""
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        return
    total = sum(
        OutboxItem.objects.filter(job_id=job_id, state=State.SENT)
        .exclude(seconds__isnull=True).values_list("seconds", flat=True)
    )
    timings = dict(job.timings) if isinstance(job.timings, dict) else {}
    timings["send"] = round(total, 4)
    Job.objects.filter(pk=job_id).update(timings=timings)


def _failed(item: OutboxItem, owner: str, cause: str, confirmed: list[str]) -> str:
    options = get_settings().outbox
    now = timezone.now()
    if item.attempts >= options.max_attempts:
        return _dead(item, owner, f"gave up after {item.attempts} attempts: {cause}",
                     confirmed=confirmed)
    delay = backoff_seconds(item.attempts)
    if not _guard(item, owner).update(
        state=State.PENDING, last_error=cause, confirmed=confirmed, lease_owner="",
        next_attempt_at=now + timedelta(seconds=delay), updated_at=now,
    ):
        logger.warning("outbox item %s was taken over meanwhile; outcome dropped", item.pk)
        return "lost"
    logger.warning("outbox item %s (job %s): attempt %s of %s failed, retry in %g s: %s",
                   item.pk, item.job_id, item.attempts, options.max_attempts, delay, cause)
    outbox.enqueue(item, countdown=delay)
    return "retrying"


def _dead(item: OutboxItem, owner: str, cause: str, confirmed: list[str] | None = None) -> str:
    fields: dict[str, Any] = {"confirmed": confirmed} if confirmed is not None else {}
    if not _guard(item, owner).update(
        state=State.DEAD, last_error=cause, lease_owner="", updated_at=timezone.now(), **fields
    ):
        return "lost"
    logger.error("outbox item %s (job %s) is dead: %s", item.pk, item.job_id, cause)
    return "dead"
