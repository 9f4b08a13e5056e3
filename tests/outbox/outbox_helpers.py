"""Helpers of the outbox tests: submit a routed job, wait for jobs and outbox items."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

ROUTE = "to-pacs"


def submit(folder: Path, series: Any, model: str = "bright-test", **options: Any) -> Any:
    """Submit ``model`` on the phantom ``series`` in ``folder`` through route ``to-pacs``."""
    from django.db import transaction

    from hub.jobs.services import submit_job

    options.setdefault("route", ROUTE)
    options.setdefault("trigger", "route")
    with transaction.atomic():
        return submit_job(
            series.series_instance_uid, series.study_instance_uid, model, [folder], **options
        )


def wait_job(job_id: int, states: tuple[str, ...] = ("succeeded",), timeout: float = 60) -> Any:
    """Poll the job until it is in one of ``states``; returns it."""
    from hub.jobs.models import Job

    job = Job.objects.get(pk=job_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in states:
            return job
        if job.finished:
            break
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {job.state}, not {states}: {job.error}")


def items_of(job_id: int) -> list[Any]:
    """The job's outbox items (by peer name)."""
    from hub.dimse.models import OutboxItem

    return list(OutboxItem.objects.filter(job_id=job_id).order_by("peer_name"))


def wait_item(
    job_id: int, states: tuple[str, ...] = ("sent",), timeout: float = 60, peer: str = "pacs"
) -> Any:
    """Poll the job's item for ``peer`` until it is in one of ``states``; returns it."""
    from hub.dimse.models import OutboxItem

    deadline = time.monotonic() + timeout
    item = None
    while time.monotonic() < deadline:
        item = OutboxItem.objects.filter(job_id=job_id, peer_name=peer).first()
        if item is not None and item.state in states:
            return item
        time.sleep(0.1)
    state = item.state if item is not None else "absent"
    error = item.last_error if item is not None else ""
    raise AssertionError(f"outbox item of job {job_id} is {state}, not {states}: {error}")


def wait_stored(job_id: int, timeout: float = 30) -> Any:
    """Poll until the job's results are stored in the hub (the hand-off follows the job's
    success in the worker); returns its ResultHandoff."""
    from hub.dimse.models import ResultHandoff

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        handoff = ResultHandoff.objects.filter(job_id=job_id, stored_at__isnull=False).first()
        if handoff is not None:
            return handoff
        time.sleep(0.1)
    raise AssertionError(f"the results of job {job_id} were not stored in the hub")
