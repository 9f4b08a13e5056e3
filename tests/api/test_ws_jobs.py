"""``WS /ws/jobs``: authentication (1008 without), current state of followed jobs, changes as
they happen in the job table (written here as another process would)."""

from __future__ import annotations

import threading
import time

import pytest
from api_helpers import People
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.usefixtures("jobs_table")


def add_job(state: str = "queued") -> object:
    from hub.jobs.models import Job

    series = f"1.2.826.0.1.3680043.8.498.88.{time.monotonic_ns()}"
    return Job.objects.create(
        series_instance_uid=series, study_instance_uid="1.2.826.0.1.3680043.8.498.88",
        model_name="ct-lung-seg", model_version="1.0.0",
        idempotency_key=Job.key_for(series, "ct-lung-seg", "1.0.0"), state=state,
    )


def set_state(job_id: int, state: str, delay: float) -> threading.Thread:
    from django.utils import timezone

    from hub.jobs.models import Job

    def later() -> None:
        time.sleep(delay)
        Job.objects.filter(pk=job_id).update(state=state, updated_at=timezone.now())

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_refused_without_valid_credentials(client: TestClient, people: People) -> None:
    for url, headers in (("/ws/jobs", {}), ("/ws/jobs?token=phub_x_y", {}),
                         ("/ws/jobs", {"Authorization": "Bearer nope"})):
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect(url, headers=headers) as ws:
                ws.receive_json()
        assert closed.value.code == 1008


def test_follows_one_job_until_done(client: TestClient, people: People) -> None:
    job = add_job()
    other = add_job()
    token = people.reader["Authorization"].split()[1]
    with client.websocket_connect(f"/ws/jobs?job={job.pk}&token={token}") as ws:
        first = ws.receive_json()
        assert first["type"] == "job" and first["job"]["id"] == job.pk
        assert first["job"]["state"] == "queued"
        threads = [set_state(other.pk, "running", 0.2), set_state(job.pk, "running", 0.4),
                   set_state(job.pk, "succeeded", 1.2)]
        states = []
        while not states or states[-1] != "succeeded":
            message = ws.receive_json()
            assert message["job"]["id"] == job.pk  # the other job is not sent
            states.append(message["job"]["state"])
        assert states == ["running", "succeeded"]
        for thread in threads:
            thread.join()


def test_all_changes_with_the_header_token(client: TestClient, people: People) -> None:
    job = add_job()
    with client.websocket_connect("/ws/jobs", headers=people.engineer) as ws:
        thread = set_state(job.pk, "failed", 0.3)
        message = ws.receive_json()
        assert message["job"]["id"] == job.pk and message["job"]["state"] == "failed"
        assert message["job"]["urls"]["self"] == f"/api/v1/jobs/{job.pk}"
        thread.join()
