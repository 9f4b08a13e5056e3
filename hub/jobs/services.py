"""Job services: submit, retry, cancel, and the guarded state transitions workers use.

Every transition is a conditional ``UPDATE ... WHERE state IN (...)`` (and, for a running job,
``AND lease_owner = me``), so two workers can never both own a job and a late worker can never
overwrite a newer state. Messages carry only the job id and are sent after the commit.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hub.errors import HubError, InputError
from hub.jobs.models import Job
from hub.jobs.toggles import refuse_if_disabled
from hub.results.uids import is_valid_uid
from hub.settings import get_settings

logger = logging.getLogger(__name__)

State = Job.State
CLAIMABLE = (State.QUEUED, State.RETRYING)


class JobNotFoundError(HubError):
    """No job has the given id."""

    exit_code = 2


class JobStateError(HubError):
    """The job is not in a state that allows the requested action."""

    exit_code = 2


def get_job(job_id: int) -> Job:
    """The job with ``job_id`` or :class:`JobNotFoundError`."""
    try:
        return Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        raise JobNotFoundError(
            f"no job with id {job_id}", "list jobs with 'pacs-hub jobs list'"
        ) from None


def submit_job(
    series_uid: str,
    study_uid: str,
    model_name: str,
    source_paths: Sequence[str | Path],
    *,
    trigger: str = Job.Trigger.MANUAL,
    route: str = "",
    also_routes: Sequence[str] | None = None,
    priority: int = Job.Priority.NORMAL,
    queue: str | None = None,
    force: bool = False,
) -> Job:
    """Create a job for ``model_name`` on a series and enqueue it after the commit.

    ``route`` is the route the job runs under; ``also_routes`` the later routes that chose
    the same model (their ``send_to`` receive the results too; see :mod:`hub.dimse.outbox`).
    ``queue`` defaults to ``[jobs.queues]`` for the model, else ``default``.
    The same series, model and version submitted again returns the existing job (nothing runs
    twice) unless ``force``, which creates the next run. Raises :class:`UnknownModelError` /
    :class:`PluginError` for a missing or disabled model (also one an administrator switched off
    on the plugins page: :class:`hub.jobs.toggles.ModelDisabledError`, which routing records as
    the skip reason) and :class:`InputError` for bad UIDs.
    """
    from hub.plugins.manager import get_registry

    for name, uid in (("SeriesInstanceUID", series_uid), ("StudyInstanceUID", study_uid)):
        if not is_valid_uid(uid):
            raise InputError(f"invalid {name} {uid!r}", "the series' files must carry valid UIDs")
    refuse_if_disabled(model_name)
    manifest = get_registry().get(model_name).manifest
    first_key = Job.key_for(series_uid, manifest.name, manifest.version)
    existing = Job.objects.filter(idempotency_key=first_key).first()
    if existing is not None and not force:
        return _latest_run(existing)
    for _ in range(5):
        run = 1
        if existing is not None:
            run = 1 + (
                Job.objects.filter(
                    series_instance_uid=series_uid,
                    model_name=manifest.name,
                    model_version=manifest.version,
                ).count()
            )
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    series_instance_uid=series_uid,
                    study_instance_uid=study_uid,
                    model_name=manifest.name,
                    model_version=manifest.version,
                    run=run,
                    idempotency_key=Job.key_for(series_uid, manifest.name, manifest.version, run),
                    trigger=trigger,
                    route=route,
                    also_routes=list(dict.fromkeys(also_routes or ())),
                    priority=priority,
                    queue=queue or get_settings().jobs.queues.get(manifest.name, "default"),
                    source_paths=[str(Path(p).resolve()) for p in source_paths],
                )
                transaction.on_commit(lambda job=job: enqueue(job))
        except IntegrityError:  # a concurrent submit took this run number
            existing = Job.objects.filter(idempotency_key=first_key).first()
            if existing is not None and not force:
                return _latest_run(existing)
            continue
        logger.info("job %s submitted: %s on series %s", job.pk, manifest.key, series_uid)
        return job
    raise JobStateError("could not allocate a run number", "submit again")


def _latest_run(first: Job) -> Job:
    return (
        Job.objects.filter(
            series_instance_uid=first.series_instance_uid,
            model_name=first.model_name,
            model_version=first.model_version,
        )
        .order_by("-run")
        .first()
        or first
    )


def enqueue(job: Job, countdown: float | None = None) -> None:
    """Send the job's message (the job id only) to its queue with its time limits."""
    from hub.jobs.celery_app import broker_priority, get_app
    from hub.jobs.tasks import run_job

    get_app()
    options = get_settings().jobs
    soft = options.time_limit(job.model_name)
    result = run_job.apply_async(
        args=[job.pk],
        queue=job.queue,
        priority=broker_priority(job.priority),
        soft_time_limit=soft,
        time_limit=soft + options.hard_limit_grace,
        countdown=countdown,
    )
    due = timezone.now() + timedelta(seconds=countdown or 0)
    Job.objects.filter(pk=job.pk).update(task_id=result.id, due_at=due)


def retry_job(job_id: int) -> Job:
    """Queue a failed or cancelled job again (same run, attempts start over)."""
    job = get_job(job_id)
    done = Job.objects.filter(pk=job_id, state__in=(State.FAILED, State.CANCELLED)).update(
        state=State.QUEUED, attempts=0, error="", error_kind="", lease_owner="",
        finished_at=None, updated_at=timezone.now(),
    )
    if not done:
        raise JobStateError(
            f"job {job_id} is {job.state}; only failed or cancelled jobs can be retried",
            "wait for it to finish, or submit with --force for a new run",
        )
    job.refresh_from_db()
    transaction.on_commit(lambda: enqueue(job))
    return job


def cancel_job(job_id: int) -> Job:
    """Cancel a queued, retrying or running job; a running one is revoked where possible."""
    job = get_job(job_id)
    now = timezone.now()
    if Job.objects.filter(pk=job_id, state__in=CLAIMABLE).update(
        state=State.CANCELLED, finished_at=now, updated_at=now
    ):
        return get_job(job_id)
    if Job.objects.filter(pk=job_id, state=State.RUNNING).update(
        state=State.CANCELLED, finished_at=now, updated_at=now, lease_owner=""
    ):
        _revoke(job)
        return get_job(job_id)
    raise JobStateError(f"job {job_id} is already {job.state}", "nothing to cancel")


def _revoke(job: Job) -> None:
    from hub.jobs.celery_app import get_app

    if not job.task_id:
        return
    try:
        get_app().control.revoke(job.task_id, terminate=True, signal="SIGTERM")
    except Exception as exc:  # broker without broadcast: the worker's result is discarded
        logger.warning("job %s: could not revoke task %s: %s", job.pk, job.task_id, exc)


# --- transitions used by the worker ------------------------------------------------------


def new_owner() -> str:
    """A lease owner token: host, process and a random part."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(job_id: int, owner: str, task_id: str = "") -> bool:
    """Take a queued or retrying job (or a running one whose lease has gone stale)."""
    now = timezone.now()
    stale = now - timedelta(seconds=get_settings().jobs.lease_seconds)
    fields: dict[str, Any] = {
        "state": State.RUNNING, "lease_owner": owner, "heartbeat_at": now,
        "attempts": F("attempts") + 1, "worker_host": owner.rsplit(":", 1)[0],
        "started_at": now, "updated_at": now, "error": "", "error_kind": "",
    }
    if task_id:
        fields["task_id"] = task_id
    if Job.objects.filter(pk=job_id, state__in=CLAIMABLE).update(**fields):
        return True
    return bool(
        Job.objects.filter(pk=job_id, state=State.RUNNING, heartbeat_at__lt=stale).update(**fields)
    )


def heartbeat(job_id: int, owner: str) -> bool:
    """Refresh the lease; False when the job is no longer ours (cancelled, reaped)."""
    return bool(
        Job.objects.filter(pk=job_id, state=State.RUNNING, lease_owner=owner).update(
            heartbeat_at=timezone.now()
        )
    )


def finish(job_id: int, owner: str, state: str, **fields: Any) -> bool:
    """Move our running job to ``state`` (succeeded, failed, retrying) with ``fields``."""
    now = timezone.now()
    extra = {"finished_at": now} if state in Job.FINISHED else {}
    return bool(
        Job.objects.filter(pk=job_id, state=State.RUNNING, lease_owner=owner).update(
            state=state, updated_at=now, lease_owner="" if state != State.RUNNING else owner,
            **extra, **fields,
        )
    )


def fail_running(job_id: int, error: str, kind: str) -> bool:
    """Fail a running job whoever owns it (the worker's parent after a hard time limit)."""
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job_id, state=State.RUNNING).update(
            state=State.FAILED, error=error, error_kind=kind, finished_at=now, updated_at=now,
            lease_owner="",
        )
    )


def recover_stale_jobs() -> list[int]:
    """Queue again every running job whose worker stopped heart-beating; returns their ids.

    A job that has used up its attempts (``max_retries + 1``) is failed instead, so a series
    that kills its worker every time cannot loop forever.
    """
    options = get_settings().jobs
    stale = timezone.now() - timedelta(seconds=options.lease_seconds)
    recovered: list[int] = []
    for job in Job.objects.filter(state=State.RUNNING, heartbeat_at__lt=stale):
        now = timezone.now()
        if job.attempts > options.max_retries:
            Job.objects.filter(pk=job.pk, state=State.RUNNING, heartbeat_at__lt=stale).update(
                state=State.FAILED, finished_at=now, updated_at=now, lease_owner="",
                error=f"worker lost {job.attempts} times while running this job",
                error_kind="WorkerLost",
            )
            continue
        if Job.objects.filter(pk=job.pk, state=State.RUNNING, heartbeat_at__lt=stale).update(
            state=State.RETRYING, lease_owner="", updated_at=now
        ):
            logger.warning(
                "job %s (series %s): worker %s lost, queued again",
                job.pk, job.series_instance_uid, job.worker_host,
            )
            enqueue(job)
            recovered.append(job.pk)
    return recovered


def requeue_lost_messages() -> list[int]:
    """Send again the messages of queued jobs that the embedded broker no longer holds.

    Only the embedded (filesystem) broker loses messages: it deletes a message file when a
    worker fetches it, so a worker killed before it claimed the job takes the message with
    it. Redis keeps unacknowledged messages and delivers them again by itself. A job counts as
    lost when it has been due for longer than the lease and its task id is not among the
    waiting messages; sending one twice is harmless (only one worker can claim a job).
    """
    from hub.jobs.celery_app import embedded_task_ids, is_embedded

    settings = get_settings()
    if not is_embedded(settings):
        return []
    overdue = timezone.now() - timedelta(seconds=settings.jobs.lease_seconds)
    candidates = list(Job.objects.filter(state__in=CLAIMABLE, due_at__lt=overdue))
    if not candidates:
        return []
    waiting = embedded_task_ids(settings)
    requeued: list[int] = []
    for job in candidates:
        if job.task_id in waiting:
            continue
        # re-check under the condition, so a job claimed meanwhile is left alone
        if not Job.objects.filter(pk=job.pk, state__in=CLAIMABLE, task_id=job.task_id).exists():
            continue
        logger.warning("job %s (series %s): its message was lost, sent again",
                       job.pk, job.series_instance_uid)
        enqueue(job)
        requeued.append(job.pk)
    return requeued


def job_summary(job: Job) -> dict[str, Any]:
    """A JSON-ready view of a job for the CLI and the API."""
    return {
        "id": job.pk,
        "state": job.state,
        "model": {"name": job.model_name, "version": job.model_version},
        "run": job.run,
        "SeriesInstanceUID": job.series_instance_uid,
        "StudyInstanceUID": job.study_instance_uid,
        "trigger": job.trigger,
        "route": job.route,
        "also_routes": list(job.also_routes or []),
        "priority": Job.Priority(job.priority).label,
        "queue": job.queue,
        "attempts": job.attempts,
        "worker_host": job.worker_host,
        "output_dir": job.output_dir,
        "timings_s": job.timings,
        "result": job.result,
        "error": job.error,
        "error_kind": job.error_kind,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
