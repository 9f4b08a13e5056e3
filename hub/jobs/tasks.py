"""Celery tasks (thin: they take a job id; the work is in :mod:`hub.jobs.execution`).

Also the worker-side plumbing: a request class that fails a job whose process was killed at
its hard time limit, and the lease reaper thread every worker runs, which queues again the jobs
of workers that died (a SIGKILLed machine, an OOM kill).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from celery import Task
from celery.signals import worker_ready, worker_shutdown
from celery.worker.request import Request

from hub.jobs.celery_app import app

logger = logging.getLogger(__name__)


class JobRequest(Request):
    """Marks the job failed when the worker's parent kills it at the hard time limit."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft:
            return
        from hub.jobs import services
        from hub.jobs.execution import format_seconds

        job_id = self.args[0] if self.args else None
        soft_limit = self.time_limits[1] or timeout  # (hard, soft)
        if job_id is not None:
            services.fail_running(
                int(job_id), f"timed out after {format_seconds(soft_limit)} s", "TimeLimit"
            )
            logger.warning("job %s killed at its hard time limit (%s s)", job_id, timeout)


class JobTask(Task):
    """Base of job tasks."""

    Request = JobRequest
    acks_late = True
    reject_on_worker_lost = True


@app.task(bind=True, base=JobTask, name="hub.jobs.run_job", ignore_result=True)
def run_job(self: Task, job_id: int) -> str:
    """Run job ``job_id`` (reload, skip finished, claim, run, record)."""
    from hub.db import setup

    setup()
    from hub.jobs.execution import execute

    info = self.request.delivery_info or {}
    limits = self.request.timelimit or (None, None)
    return execute(
        int(job_id),
        task_id=self.request.id or "",
        redelivered=bool(info.get("redelivered")),
        soft_limit=float(limits[1] or 0),
    )


class Reaper(threading.Thread):
    """Every half lease, queue again the running jobs whose worker stopped heart-beating, and
    send again the messages the embedded broker lost with a killed worker."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="job-reaper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections, connection

        from hub.dimse.outbox import recover_outbox
        from hub.jobs.services import recover_stale_jobs, requeue_lost_messages

        while not self.stopped.wait(self.interval):
            try:
                close_old_connections()
                recover_stale_jobs()
                requeue_lost_messages()
                recover_outbox()
            except Exception:
                logger.exception("job reaper failed; trying again")
        connection.close()


_reapers: list[Reaper] = []


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    from hub.db import setup
    from hub.settings import get_settings

    setup()
    reaper = Reaper(max(0.5, get_settings().jobs.lease_seconds / 2))
    reaper.start()
    _reapers.append(reaper)
    ready = os.environ.get("PACS_HUB_WORKER_READY_FILE")  # set by ``pacs-hub up``
    if ready:
        Path(ready).touch()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    for reaper in _reapers:
        reaper.stopped.set()
