"""Live views of one study for the viewer: Server-Sent Events and a WebSocket.

Both read the index and the job table about every 0.5 s (:class:`StudyWatcher`), so they see
what any process stored or ran:

- ``GET /api/v1/viewer/stream/{study}`` (SSE): ``series`` then ``instance`` events (with
  frame URLs) for what is stored, then ``series``/``instance`` for new arrivals (the hub's
  SEG/SR: ``hub_result: true``) and ``job`` for job state changes; ``complete`` (and the end
  of the stream) once no series of the study is still receiving, no job is unfinished and
  the SEG/SR of every succeeded job are stored (the outbox stores them after the job ends).
  ``?follow=false`` ends after the listing; ``timeout`` (s) bounds the wait.
- ``WS /ws/viewer/{study}``: ``{"type": "snapshot"}`` first, then ``series``, ``instance``
  and ``job`` messages as they happen, until the client leaves. Authentication as for
  ``/ws/jobs``: ``?token=``, ``Authorization`` or the session cookie; 1008 without
  ``view_studies``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from hub.web.auth import Viewer, authenticate_websocket
from hub.web.dicomweb import catalog
from hub.web.dicomweb.common import check_uids, not_found
from hub.web.dicomweb.frames import frame_count
from hub.web.dicomweb.stored import UnreadableFileError, absolute_path, read_header
from hub.web.problems import problem_responses

router = APIRouter(prefix="/viewer", tags=["viewer"])
ws_router = APIRouter()

POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
POLICY_VIOLATION = 1008
UNFINISHED = ("queued", "running", "retrying")


class StudyWatcher:
    """What changed in one study since the last :meth:`poll` (sync; call from a thread)."""

    def __init__(self, study: str, root: str = "") -> None:
        self.study = study
        self.root = root.rstrip("/")
        self.seen_series: set[str] = set()
        self.seen_instances: set[str] = set()
        self.jobs: dict[int, tuple[str, int]] = {}
        #: SOP Instance UIDs of the SEG/SR succeeded jobs wrote (stored by the outbox later).
        self.expected_results: set[str] = set()
        self.finished = False

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        """New ``series``/``instance`` events and ``job`` changes, in that order."""
        from django.db import close_old_connections

        close_old_connections()
        entries = catalog.find_instances([self.study], [])
        events: list[tuple[str, dict[str, Any]]] = []
        grouped: dict[str, list[catalog.InstanceEntry]] = {}
        for entry in entries:
            grouped.setdefault(entry.series_instance_uid, []).append(entry)
        for series, members in grouped.items():
            fresh = [e for e in members if e.sop_instance_uid not in self.seen_instances]
            if not fresh:
                continue
            described = [self._describe(e) for e in fresh]
            described.sort(key=lambda d: (d["InstanceNumber"] is None, d["InstanceNumber"] or 0))
            if series not in self.seen_series:
                self.seen_series.add(series)
                events.append(("series", self._series(members, described)))
            for item in described:
                self.seen_instances.add(item["SOPInstanceUID"])
                events.append(("instance", item))
        events += self._job_changes(set(grouped))
        stored = {entry.sop_instance_uid for entry in entries}
        self.finished = self._complete(set(grouped), stored)
        return events

    def _describe(self, entry: catalog.InstanceEntry) -> dict[str, Any]:
        try:
            header = read_header(absolute_path(entry.path))
        except UnreadableFileError:
            header = None
        frames = frame_count(header) if header is not None else 0
        number = header.get("InstanceNumber") if header is not None else None
        uid = entry.sop_instance_uid
        return {
            "SeriesInstanceUID": entry.series_instance_uid,
            "SOPInstanceUID": uid,
            "SOPClassUID": entry.sop_class_uid,
            "InstanceNumber": int(number) if number not in (None, "") else None,
            "frames": frames,
            "frame_urls": [f"{self.root}/api/v1/viewer/frames/{uid}/{n}"
                           for n in range(1, frames + 1)],
            "hub_result": entry.source == catalog.RESULT_SOURCE,
        }

    def _series(self, members: list[catalog.InstanceEntry],
                described: list[dict[str, Any]]) -> dict[str, Any]:
        first = members[0]
        try:
            header = read_header(absolute_path(first.path))
        except UnreadableFileError:
            header = None

        def text(keyword: str) -> Any:
            value = header.get(keyword) if header is not None else None
            return str(value) if value not in (None, "") else None

        return {
            "StudyInstanceUID": self.study,
            "SeriesInstanceUID": first.series_instance_uid,
            "Modality": first.modality or text("Modality"),
            "SeriesDescription": text("SeriesDescription"),
            "SeriesNumber": text("SeriesNumber"),
            "instances": len(members),
            "hub_result": all(m.source == catalog.RESULT_SOURCE for m in members),
            "dicomweb": f"{self.root}/dicomweb/studies/{self.study}/series/"
                        f"{first.series_instance_uid}",
        }

    def _job_rows(self, series: set[str]) -> list[Any]:
        from django.db.models import Q

        from hub.jobs.models import Job

        return list(
            Job.objects.filter(Q(study_instance_uid=self.study) | Q(series_instance_uid__in=series))
            .order_by("id")
            .values("id", "model_name", "model_version", "state", "attempts",
                    "series_instance_uid", "error", "result")
        )

    def _job_changes(self, series: set[str]) -> list[tuple[str, dict[str, Any]]]:
        changes = []
        for row in self._job_rows(series):
            key = (row["state"], row["attempts"])
            if self.jobs.get(row["id"]) == key:
                continue
            self.jobs[row["id"]] = key
            results = _result_uids(row["result"]) if row["state"] == "succeeded" else []
            self.expected_results.update(results)
            changes.append(("job", {
                "id": row["id"], "model": row["model_name"], "version": row["model_version"],
                "state": row["state"], "attempts": row["attempts"],
                "SeriesInstanceUID": row["series_instance_uid"],
                "error": (row["error"] or "")[:500] or None,
                "results": results,
            }))
        return changes

    def _complete(self, series: set[str], stored: set[str]) -> bool:
        """No series still receiving, no job unfinished, every result of a job stored."""
        from hub.storage.models import Series

        receiving = Series.objects.filter(series_instance_uid__in=series,
                                          state=Series.State.RECEIVING).exists()
        unfinished = any(state in UNFINISHED for state, _ in self.jobs.values())
        pending = bool(self.expected_results - stored)
        return bool(series) and not receiving and not unfinished and not pending


def _result_uids(result: object) -> list[str]:
    """The SEG/SR SOP Instance UIDs a succeeded job's ``result`` names."""
    if not isinstance(result, dict):
        return []
    uids = []
    for kind in ("seg", "sr"):
        entry = result.get(kind)
        uid = entry.get("uid") if isinstance(entry, dict) else None
        if isinstance(uid, str) and uid:
            uids.append(uid)
    return uids


def _sse(event: str, data: dict[str, Any], number: int) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {number}\nevent: {event}\ndata: {payload}\n\n".encode()


async def _events(request: Request, watcher: StudyWatcher, follow: bool,
                  timeout: float) -> AsyncIterator[bytes]:
    number = 0
    deadline = time.monotonic() + timeout
    last_sent = time.monotonic()
    first = True
    while True:
        events = await run_in_threadpool(watcher.poll)
        if first:
            events.insert(0, ("study", {"StudyInstanceUID": watcher.study,
                                        "series": len(watcher.seen_series)}))
            first = False
        for event, data in events:
            number += 1
            yield _sse(event, data, number)
            last_sent = time.monotonic()
        if not follow or watcher.finished:
            yield _sse("complete", {"StudyInstanceUID": watcher.study,
                                    "finished": watcher.finished}, number + 1)
            return
        if time.monotonic() >= deadline:
            yield _sse("timeout", {"StudyInstanceUID": watcher.study}, number + 1)
            return
        if time.monotonic() - last_sent > KEEP_ALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)


def _study_known(study: str) -> bool:
    return bool(catalog.find_series([study], [], []))


@router.get(
    "/stream/{study}",
    summary="Viewer: live study listing and progress (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"},
               **problem_responses(400, 401, 403, 404)},
)
async def stream_study(
    request: Request,
    principal: Viewer,
    study: Annotated[str, Path(description="StudyInstanceUID")],
    follow: Annotated[bool, Query(description="keep streaming progress and new results")] = True,
    timeout: Annotated[float, Query(gt=0, le=3600, description="longest wait (s)")] = 600.0,
) -> StreamingResponse:
    """Series and instances of the study with their frame URLs, then job progress and new
    results as they appear; ends when the study is complete (see the module docstring)."""
    check_uids(StudyInstanceUID=study)
    if not await run_in_threadpool(_study_known, study):
        raise not_found(f"study {study}")
    watcher = StudyWatcher(study, request.scope.get("root_path", ""))
    return StreamingResponse(
        _events(request, watcher, follow, timeout),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _closed(websocket: WebSocket) -> None:
    try:
        while True:
            if (await websocket.receive())["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


@ws_router.websocket("/ws/viewer/{study}")
async def viewer_socket(websocket: WebSocket, study: str) -> None:
    """New series/instances (the hub's results among them) and job changes of one study."""
    principal = await authenticate_websocket(websocket)
    if principal is None or not principal.has("view_studies"):
        await websocket.close(code=POLICY_VIOLATION)
        return
    await websocket.accept()
    watcher = StudyWatcher(study, websocket.scope.get("root_path", ""))
    closed = asyncio.create_task(_closed(websocket))
    try:
        events = await run_in_threadpool(watcher.poll)
        await websocket.send_json({
            "type": "snapshot", "StudyInstanceUID": study,
            "series": [data for kind, data in events if kind == "series"],
            "instances": sum(1 for kind, _ in events if kind == "instance"),
            "jobs": [data for kind, data in events if kind == "job"],
        })
        while not closed.done():
            await asyncio.wait({closed}, timeout=POLL_SECONDS)
            if closed.done():
                break
            for kind, data in await run_in_threadpool(watcher.poll):
                await websocket.send_json({"type": kind, kind: data})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        closed.cancel()
