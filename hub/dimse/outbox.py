"""The results outbox: hand a succeeded job's SEG/SR over to the hub and to its routes' peers.

Flow (``hub.jobs.execution`` calls :func:`job_succeeded` once the job is marked succeeded):

1. a :class:`~hub.dimse.models.ResultHandoff` row and one
   :class:`~hub.dimse.models.OutboxItem` per peer (:func:`job_peers`: the ``send_to`` of the
   job's route and of its ``also_routes``, each peer once) are created in one transaction;
   each item's delivery task is enqueued after the commit;
2. the SEG and SR are stored in the hub's own storage (``source="result"``, from a spooled
   copy: the job keeps its files) so Q/R and DICOMweb show them; ``stored_at`` records it.

Nothing is lost when a worker dies anywhere in between: :func:`recover_outbox` (run by every
worker's reaper) hands off succeeded jobs that have no hand-off row, stores results whose
storing failed, makes items whose worker died mid-delivery pending again, and sends again the
messages of pending items that are overdue (lost with a killed worker on the embedded broker).
Delivery itself is :mod:`hub.dimse.delivery`.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from hub.dimse.models import OutboxItem, ResultHandoff
from hub.errors import HubError
from hub.jobs.models import Job
from hub.settings import Peer, get_settings

logger = logging.getLogger(__name__)

State = OutboxItem.State
#: Result kinds in sending order: the SEG before the SR that references it.
KINDS = ("seg", "sr")
#: Succeeded jobs handed off per sweep (the rest in the next one).
SWEEP_BATCH = 100


class OutboxItemNotFoundError(HubError):
    """No outbox item has the given id."""

    exit_code = 2


class OutboxStateError(HubError):
    """The item is not in a state that allows the requested action."""

    exit_code = 2


def configured_peer(name: str) -> Peer | None:
    """The ``[[peers]]`` entry called ``name`` (by name only), or None."""
    return next((peer for peer in get_settings().peers if peer.name == name), None)


def result_files(job: Job) -> list[dict[str, str]]:
    """The job's result files in sending order: ``{"kind", "path", "sop_instance_uid"}``."""
    files: list[dict[str, str]] = []
    result = job.result if isinstance(job.result, dict) else {}
    for kind in KINDS:
        entry = result.get(kind)
        if isinstance(entry, dict) and entry.get("path") and entry.get("uid"):
            files.append(
                {"kind": kind, "path": str(entry["path"]), "sop_instance_uid": str(entry["uid"])}
            )
    return files


def job_succeeded(job: Job) -> list[OutboxItem]:
    """Hand the results of succeeded ``job`` over: outbox items, then the hub's storage.

    Idempotent (one hand-off per job, one item per job and peer), so the sweep may call it for
    a job whose worker died before it did. Returns the items created by this call.
    """
    job = Job.objects.get(pk=job.pk)
    if job.state != Job.State.SUCCEEDED:
        logger.info("job %s is %s, not succeeded; nothing to hand off", job.pk, job.state)
        return []
    created = _create_items(job)
    handoff = ResultHandoff.objects.get(job_id=job.pk)
    if handoff.stored_at is None:
        store_results(handoff)
    return created


def job_peers(job: Job) -> list[str]:
    """The peers of ``job``'s results: ``send_to`` of its route, then of each of its
    ``also_routes``, in that order, each peer once.

    A route that is no longer configured is logged and skipped.
    """
    configured = get_settings().routes
    peers: list[str] = []
    names = [job.route] if job.route else []
    for name in [*names, *(job.also_routes or [])]:
        route = next((r for r in configured if r.name == name), None)
        if route is None:
            logger.warning("job %s: route %r is no longer configured; its send_to is skipped",
                           job.pk, name)
            continue
        peers.extend(peer for peer in route.send_to if peer not in peers)
    return peers


def _create_items(job: Job) -> list[OutboxItem]:
    files = result_files(job)
    peers = job_peers(job) if files else []
    created: list[OutboxItem] = []
    for _ in range(2):  # a concurrent hand-off of the same job: the second pass finds its rows
        try:
            with transaction.atomic():
                ResultHandoff.objects.get_or_create(job=job)
                existing = set(job.outbox_items.values_list("peer_name", flat=True))
                for name in peers:
                    if name not in existing:
                        created.append(_new_item(job, name, files))
            break
        except IntegrityError:
            created = []
    for item in created:
        logger.info("job %s: outbox item %s for %s created", job.pk, item.pk, item.destination)
    return created


def _new_item(job: Job, peer_name: str, files: list[dict[str, str]]) -> OutboxItem:
    peer = configured_peer(peer_name)
    now = timezone.now()
    item = OutboxItem.objects.create(
        job=job, peer_name=peer_name, files=files, next_attempt_at=now,
        ae_title=peer.ae_title if peer else "", host=peer.host if peer else "",
        port=peer.port if peer else 0,
    )
    if peer is None:
        OutboxItem.objects.filter(pk=item.pk).update(
            state=State.DEAD, last_error=removed_peer_cause(peer_name), updated_at=now
        )
        item.refresh_from_db()
    else:  # robust: a broker fault is logged; the sweep sends the message of an overdue item
        transaction.on_commit(lambda: enqueue(item), robust=True)
    return item


def removed_peer_cause(peer_name: str) -> str:
    """last_error of an item whose peer is no longer configured."""
    return (
        f"peer {peer_name!r} is not in [[peers]] any more (fix: add it back to the "
        "PACS_HUB_CONFIG file, then 'pacs-hub outbox retry ID')"
    )


def store_results(handoff: ResultHandoff) -> bool:
    """Store the job's SEG/SR in the hub's storage (``source="result"``); True when done.

    A failure (disk full, file gone) is logged and kept in ``store_error``; the sweep tries
    again. The job's own files are copied to the spool first, because
    :func:`~hub.storage.store.store_instance` takes a spooled file over.
    """
    from hub.storage.files import new_spool_file, remove_quietly
    from hub.storage.models import RESULT_SOURCE
    from hub.storage.store import store_instance

    job = handoff.job
    stored: list[str] = []
    try:
        for entry in result_files(job):
            spool = new_spool_file()
            try:
                shutil.copyfile(entry["path"], spool)
            except BaseException:
                remove_quietly(spool)
                raise
            stored.append(store_instance(spool, source=RESULT_SOURCE).sop_instance_uid)
    except (HubError, OSError) as exc:
        cause = f"{type(exc).__name__}: {exc}"
        logger.warning("job %s: storing its results in the hub failed: %s", job.pk, cause)
        ResultHandoff.objects.filter(pk=handoff.pk).update(
            store_error=cause, updated_at=timezone.now()
        )
        return False
    ResultHandoff.objects.filter(pk=handoff.pk).update(
        stored_at=timezone.now(), store_error="", stored_uids=stored, updated_at=timezone.now()
    )
    logger.info("job %s: %d result instance(s) stored in the hub", job.pk, len(stored))
    return True


def enqueue(item: OutboxItem, countdown: float | None = None) -> None:
    """Send the item's delivery message (its id only) to its job's queue."""
    from hub.dimse.tasks import deliver
    from hub.jobs.celery_app import broker_priority, get_app

    get_app()
    job = Job.objects.only("queue").get(pk=item.job_id)
    soft = delivery_time_limit(len(item.files))
    result = deliver.apply_async(
        args=[item.pk],
        queue=job.queue,
        priority=broker_priority(Job.Priority.URGENT),  # short work: ahead of inference jobs
        countdown=countdown,
        soft_time_limit=soft,
        time_limit=soft + 10,
    )
    OutboxItem.objects.filter(pk=item.pk).update(task_id=result.id)


def delivery_time_limit(files: int) -> float:
    """Soft time limit of one delivery: every network step of every resend, plus margin."""
    return get_settings().outbox.timeout * 4 * (files + 2) + 30


# --- admin ---------------------------------------------------------------------------------


def get_item(item_id: int) -> OutboxItem:
    """The outbox item ``item_id`` or :class:`OutboxItemNotFoundError`."""
    try:
        return OutboxItem.objects.get(pk=item_id)
    except OutboxItem.DoesNotExist:
        raise OutboxItemNotFoundError(
            f"no outbox item with id {item_id}", "list items with 'pacs-hub outbox list'"
        ) from None


def resend(item_id: int) -> OutboxItem:
    """Send a dead, cancelled or sent item again, all its files, with fresh attempts."""
    item = get_item(item_id)
    now = timezone.now()
    with transaction.atomic():
        done = OutboxItem.objects.filter(pk=item_id, state__in=OutboxItem.FINISHED).update(
            state=State.PENDING, attempts=0, next_attempt_at=now, confirmed=[],
            lease_owner="", updated_at=now,
        )
        if not done:
            raise OutboxStateError(
                f"outbox item {item_id} is {item.state}; it is being delivered already",
                "wait for it to be sent or dead ('pacs-hub outbox show ID')",
            )
        item.refresh_from_db()
        transaction.on_commit(lambda: enqueue(item))
    logger.info("outbox item %s (job %s) queued again for %s", item.pk, item.job_id,
                item.peer_name)
    return item


def cancel(item_id: int) -> OutboxItem:
    """Stop delivering a pending or dead item (a later message for it is dropped)."""
    item = get_item(item_id)
    if not OutboxItem.objects.filter(
        pk=item_id, state__in=(State.PENDING, State.DEAD)
    ).update(state=State.CANCELLED, updated_at=timezone.now()):
        raise OutboxStateError(
            f"outbox item {item_id} is {item.state}; only pending or dead items can be cancelled",
            "wait for the delivery to end, then cancel or retry it",
        )
    item.refresh_from_db()
    logger.info("outbox item %s (job %s) cancelled", item.pk, item.job_id)
    return item


def retry_dead() -> list[OutboxItem]:
    """Send every dead item again; returns them."""
    items: list[OutboxItem] = []
    for item_id in OutboxItem.objects.filter(state=State.DEAD).values_list("pk", flat=True):
        try:
            items.append(resend(item_id))
        except OutboxStateError:  # taken by another admin meanwhile
            continue
    return items


def item_summary(item: OutboxItem) -> dict[str, Any]:
    """A JSON-ready view of an item for the CLI and the API."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": item.pk,
        "job": item.job_id,
        "state": item.state,
        "peer": {"name": item.peer_name, "ae_title": item.ae_title, "host": item.host,
                 "port": item.port},
        "files": [{"kind": f.get("kind"), "sop_instance_uid": f.get("sop_instance_uid"),
                   "path": f.get("path")} for f in item.files],
        "confirmed": list(item.confirmed),
        "attempts": item.attempts,
        "next_attempt_at": when(item.next_attempt_at) if item.state == State.PENDING else None,
        "last_error": item.last_error,
        "seconds": item.seconds,
        "sent_at": when(item.sent_at),
        "created_at": when(item.created_at),
        "updated_at": when(item.updated_at),
    }


# --- recovery (the worker reaper calls recover_outbox every half lease) --------------------


def recover_outbox() -> dict[str, list[int]]:
    """One sweep; returns the ids it acted on per kind (for logs and tests)."""
    return {
        "handed_off": hand_off_missed_jobs(),
        "stored": store_missed_results(),
        "stale": recover_stale_items(),
        "requeued": requeue_overdue_items(),
    }


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().jobs.lease_seconds)


def hand_off_missed_jobs() -> list[int]:
    """Hand off succeeded jobs that finished over a lease ago without a hand-off row."""
    cutoff = timezone.now() - _lease()
    missed = Job.objects.filter(
        state=Job.State.SUCCEEDED, result_handoff__isnull=True, finished_at__lt=cutoff
    ).order_by("finished_at")[:SWEEP_BATCH]
    done: list[int] = []
    for job in missed:
        logger.warning("job %s succeeded but its results were not handed off; doing it now",
                       job.pk)
        job_succeeded(job)
        done.append(job.pk)
    return done


def store_missed_results() -> list[int]:
    """Store again the results whose storing failed (at most once per ``[outbox] backoff``)."""
    wait = max(_lease(), timedelta(seconds=get_settings().outbox.backoff))
    cutoff = timezone.now() - wait
    done: list[int] = []
    for handoff in ResultHandoff.objects.filter(
        stored_at__isnull=True, updated_at__lt=cutoff
    ).select_related("job")[:SWEEP_BATCH]:
        if store_results(handoff):
            done.append(handoff.job_id)
    return done


def recover_stale_items() -> list[int]:
    """Items left ``sending`` by a dead worker: pending again, or dead when out of attempts."""
    options = get_settings().outbox
    stale = timezone.now() - _lease()
    recovered: list[int] = []
    for item in OutboxItem.objects.filter(state=State.SENDING, heartbeat_at__lt=stale):
        now = timezone.now()
        lost = f"worker lost during delivery attempt {item.attempts} to {item.destination}"
        guard = OutboxItem.objects.filter(pk=item.pk, state=State.SENDING, heartbeat_at__lt=stale)
        if item.attempts >= options.max_attempts:
            guard.update(state=State.DEAD, lease_owner="", updated_at=now,
                         last_error=f"gave up after {item.attempts} attempts: {lost}")
            logger.warning("outbox item %s (job %s): %s; dead", item.pk, item.job_id, lost)
            continue
        if guard.update(state=State.PENDING, lease_owner="", next_attempt_at=now,
                        last_error=lost, updated_at=now):
            logger.warning("outbox item %s (job %s): %s; queued again", item.pk, item.job_id,
                           lost)
            enqueue(item)
            recovered.append(item.pk)
    return recovered


def requeue_overdue_items() -> list[int]:
    """Send again the message of pending items overdue by more than a lease.

    The embedded broker loses the messages a killed worker had fetched; on it, an item whose
    message still waits in the broker folder is left alone. Elsewhere a late message (all
    workers busy) is merely doubled, which is harmless: only one claim can win, and
    ``next_attempt_at`` moves on so an item gets at most one extra message per lease.
    """
    from hub.jobs.celery_app import embedded_task_ids, is_embedded

    settings = get_settings()
    now = timezone.now()
    overdue = list(
        OutboxItem.objects.filter(state=State.PENDING)
        .filter(Q(next_attempt_at__lt=now - _lease()) | Q(next_attempt_at__isnull=True))
        [:SWEEP_BATCH]
    )
    if not overdue:
        return []
    waiting = embedded_task_ids(settings) if is_embedded(settings) else set()
    requeued: list[int] = []
    for item in overdue:
        if item.task_id and item.task_id in waiting:
            continue
        if OutboxItem.objects.filter(
            pk=item.pk, state=State.PENDING, task_id=item.task_id
        ).update(next_attempt_at=now, updated_at=now):
            logger.warning("outbox item %s (job %s): its message was lost or is late; sent again",
                           item.pk, item.job_id)
            enqueue(item)
            requeued.append(item.pk)
    return requeued

