"""``WS /ws/jobs``: live job state changes, read from the job table so it works across processes.

Authentication: ``?token=``, the ``Authorization`` header or the session cookie; without a
valid one (or without ``view_studies``) the socket is closed with 1008 (policy violation).

Every ~0.5 s the job table is read for rows whose ``updated_at`` moved (with a small
look-back, since another process may commit a row stamped a moment earlier); each change of
state or attempt is sent once as ``{"type": "job", "job": {...}}`` (the fields of
``GET /api/v1/jobs/{id}`` without the result). ``?job=ID`` (repeatable) follows only those
jobs and sends their current state at once; ``?model=NAME`` only that model's jobs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from hub.web.api.views import job_view
from hub.web.auth import authenticate_websocket

log = logging.getLogger(__name__)
router = APIRouter()

POLL_SECONDS = 0.5
#: Rows stamped this long before the last poll are looked at again (commit lag).
LOOK_BACK = timedelta(seconds=2)
POLICY_VIOLATION = 1008


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def changed_jobs(since: datetime, job_ids: list[int], model: str | None) -> list[Any]:
    """Jobs updated after ``since`` (sync)."""
    from hub.jobs.models import Job
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    query = Job.objects.filter(updated_at__gt=since)
    if job_ids:
        query = query.filter(pk__in=job_ids)
    if model:
        query = query.filter(model_name=model)
    return [job_view(job, with_result=False) for job in query.order_by("updated_at", "id")[:500]]


def current_jobs(job_ids: list[int]) -> list[Any]:
    from hub.jobs.models import Job
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    return [job_view(job, with_result=False) for job in Job.objects.filter(pk__in=job_ids)]


class _Follower:
    """Sends each job change once."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.sent: dict[int, tuple[str, int, str | None]] = {}

    def remember(self, jobs: list[Any]) -> None:
        """Mark ``jobs`` as sent (their state when the socket opened is not a change)."""
        for job in jobs:
            self.sent[job.id] = (job.state, job.attempts, job.updated_at)

    async def send(self, jobs: list[Any]) -> None:
        for job in jobs:
            key = (job.state, job.attempts, job.updated_at)
            if self.sent.get(job.id) == key:
                continue
            self.sent[job.id] = key
            await self.websocket.send_json({"type": "job", "job": job.model_dump(mode="json")})


async def _closed(websocket: WebSocket) -> None:
    """Returns when the client goes away (messages from it are ignored)."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


@router.websocket("/ws/jobs")
async def jobs_socket(
    websocket: WebSocket,
    job: Annotated[list[int] | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
) -> None:
    """Live job state changes (see the module docstring)."""
    principal = await authenticate_websocket(websocket)
    if principal is None or not principal.has("view_studies"):
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    job_ids = [j for j in (job or []) if j > 0][:100]
    follower = _Follower(websocket)
    watcher = asyncio.create_task(_closed(websocket))
    since = _now() - LOOK_BACK
    try:
        follower.remember(await run_in_threadpool(changed_jobs, since, job_ids, model))
        if job_ids:
            follower.sent.clear()
            await follower.send(await run_in_threadpool(current_jobs, job_ids))
        while not watcher.done():
            polled_at = _now()
            await follower.send(await run_in_threadpool(changed_jobs, since, job_ids, model))
            since = polled_at - LOOK_BACK
            await asyncio.wait({watcher}, timeout=POLL_SECONDS)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        watcher.cancel()
