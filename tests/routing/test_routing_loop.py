"""The completion loop: resumes after a crash, survives failing sweeps, stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hub.routing import completion
from hub.routing.completion import CompletionLoop
from hub.settings import override_settings

pytestmark = pytest.mark.usefixtures("hub_db")

#: A completion process that dies (SIGKILL) inside the routing transaction, after its claim
#: and its first job row, before the commit.
CRASHING_SWEEP = """
import os, signal
from datetime import timedelta
from hub.db import setup
setup()
from django.utils import timezone
from hub.jobs import services
real = services.submit_job
def submit_and_die(*args, **kwargs):
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
services.submit_job = submit_and_die
from hub.routing.completion import complete_due_series
complete_due_series(now=timezone.now() + timedelta(seconds=60))
"""


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def state_of(uid: str) -> str:
    from hub.storage.models import Series

    return Series.objects.get(series_instance_uid=uid).state


def test_a_series_claimed_by_a_killed_process_is_completed_by_the_next_loop(
    store_series, sent, database
):
    from hub.jobs.models import Job
    from hub.routing.models import RoutingDecision

    uid = store_series()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_SWEEP],
        env={**os.environ, "PACS_HUB_DATABASE_URL": database},
        capture_output=True, text=True, timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr
    assert state_of(uid) == "receiving"  # the claim died with its transaction
    assert not Job.objects.filter(series_instance_uid=uid).exists()
    assert not RoutingDecision.objects.filter(series__series_instance_uid=uid).exists()

    override_settings(series_quiet_seconds=0.2)
    loop = CompletionLoop(interval=0.1)
    loop.start()
    try:
        wait_until(lambda: state_of(uid) == "complete")
    finally:
        loop.stop()
    assert not loop.running
    [job] = Job.objects.filter(series_instance_uid=uid)
    assert job.model_name == "ct-lung-seg" and sent == [job.pk]


def test_the_loop_survives_a_failing_sweep(monkeypatch, caplog):
    calls: list[int] = []

    def flaky(now=None):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return []

    monkeypatch.setattr(completion, "complete_due_series", flaky)
    loop = CompletionLoop(interval=0.05)
    loop.start()
    try:
        wait_until(lambda: loop.sweeps >= 3)
        assert loop.running
    finally:
        loop.stop()
    assert loop.failures == 1
    assert "series completion sweep failed" in caplog.text


def test_start_is_idempotent_and_stop_joins(store_series):
    override_settings(series_quiet_seconds=0.1)
    loop = CompletionLoop(interval=0.05)
    loop.start()
    first = loop._thread
    loop.start()
    assert loop._thread is first
    uid = store_series()
    try:
        wait_until(lambda: state_of(uid) == "complete")
    finally:
        loop.stop()
    assert not first.is_alive()
