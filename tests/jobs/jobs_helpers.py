"""Helpers of the job tests (polling and submitting)."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for(job_id: int, states: tuple[str, ...], timeout: float = 60) -> object:
    """Poll the job until it reaches one of ``states``; returns it."""
    from hub.jobs.models import Job

    deadline = time.monotonic() + timeout
    job = Job.objects.get(pk=job_id)
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.state} after {timeout} s: {job.error}")


def submit(folder: Path, series: object, model: str, **options: object) -> object:
    """Submit ``model`` on the phantom ``series`` stored in ``folder``."""
    from django.db import transaction

    from hub.jobs.services import submit_job

    with transaction.atomic():
        return submit_job(
            series.series_instance_uid, series.study_instance_uid, model, [folder], **options
        )

