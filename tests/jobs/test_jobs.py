"""Jobs end to end with real workers: results, idempotency, failures, time limits, crashes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from jobs_helpers import submit, wait_for

from hub.errors import UnknownModelError

if TYPE_CHECKING:
    from hub.jobs.models import Job

DONE = ("succeeded", "failed", "cancelled")


def job_count() -> int:
    from hub.jobs.models import Job

    return Job.objects.count()


def result_files(job: Job) -> tuple[list[Path], list[Path]]:
    folder = Path(job.output_dir)
    return sorted(folder.glob("*-seg-*.dcm")), sorted(folder.glob("*-sr-*.dcm"))


def test_submit_runs_to_success_with_timings_and_files(start_worker, make_series):
    start_worker()
    folder, series = make_series()
    job = submit(folder, series, "bright-test")
    job = wait_for(job.pk, DONE)
    assert job.state == "succeeded", job.error
    assert job.attempts == 1 and job.worker_host and job.started_at and job.finished_at
    for stage in ("load", "preprocess", "inference", "postprocess", "write", "total"):
        assert job.timings[stage] >= 0
    seg, sr = result_files(job)
    assert len(seg) == 1 and len(sr) == 1
    parts = Path(job.output_dir).parts
    assert parts[-4:] == (
        "results", series.study_instance_uid, series.series_instance_uid, "bright-test-1.0"
    )
    assert job.result["seg"]["path"] == str(seg[0]) and job.result["sr"]["uid"]
    assert job.result["segments"][0]["voxels"] > 0
    assert job.result["measurements"][0]["key"] == "bright_volume"


def test_same_series_twice_is_one_job_unless_forced(start_worker, make_series):
    folder, series = make_series()
    first = submit(folder, series, "bright-test")
    again = submit(folder, series, "bright-test")
    assert again.pk == first.pk and job_count() == 1
    start_worker()
    assert wait_for(first.pk, DONE).state == "succeeded"
    assert submit(folder, series, "bright-test").pk == first.pk
    forced = submit(folder, series, "bright-test", force=True)
    assert forced.pk != first.pk and forced.run == 2
    forced = wait_for(forced.pk, DONE)
    assert forced.state == "succeeded"
    seg, sr = result_files(forced)
    assert len(seg) == 1 and len(sr) == 1  # same deterministic UIDs: replaced, not doubled


def test_unknown_model_is_refused_before_queueing(make_series):
    folder, series = make_series()
    with pytest.raises(UnknownModelError):
        submit(folder, series, "no-such-model")
    assert job_count() == 0


def test_raising_model_fails_once_with_its_cause(start_worker, make_series):
    start_worker()
    folder, series = make_series()
    job = wait_for(submit(folder, series, "raising-test").pk, DONE)
    assert job.state == "failed" and job.attempts == 1
    assert "deliberate failure in the test plugin" in job.error
    assert job.error_kind == "InferenceError"


def test_hanging_model_times_out_and_worker_goes_on(start_worker, make_series):
    start_worker(concurrency=1)
    folder, series = make_series()
    hung = submit(folder, series, "hang-test")
    folder2, series2 = make_series()
    after = submit(folder2, series2, "bright-test")
    hung = wait_for(hung.pk, DONE, timeout=20)
    assert hung.state == "failed" and hung.error == "timed out after 2 s"
    assert hung.error_kind == "TimeLimit" and hung.attempts == 1
    assert wait_for(after.pk, DONE).state == "succeeded"


def test_model_ignoring_soft_limit_is_killed_at_hard_limit(start_worker, make_series):
    start_worker(concurrency=1)
    folder, series = make_series()
    stubborn = submit(folder, series, "stubborn-test")
    folder2, series2 = make_series()
    after = submit(folder2, series2, "bright-test")
    stubborn = wait_for(stubborn.pk, DONE, timeout=25)
    assert stubborn.state == "failed" and stubborn.error == "timed out after 2 s"
    assert wait_for(after.pk, DONE, timeout=30).state == "succeeded"


def test_two_workers_run_two_series_in_parallel(start_worker, make_series):
    start_worker()
    start_worker()
    jobs = [submit(*make_series(), "slow-test") for _ in range(2)]
    a, b = (wait_for(job.pk, DONE, timeout=40) for job in jobs)
    assert a.state == b.state == "succeeded"
    assert a.worker_host != b.worker_host  # host:pid of two different pool processes
    assert a.started_at < b.finished_at and b.started_at < a.finished_at


def test_killed_worker_job_is_finished_by_the_other_exactly_once(start_worker, make_series):
    first = start_worker()
    second = start_worker()
    folder, series = make_series()
    job = wait_for(submit(folder, series, "slow-test").pk, ("running",), timeout=20)
    pid = int(job.lease_owner.split(":")[1])
    victim = first if first.owns(pid) else second
    assert victim.owns(pid)
    victim.kill()
    job = wait_for(job.pk, DONE, timeout=40)
    assert job.state == "succeeded", job.error
    assert job.attempts == 2
    seg, sr = result_files(job)
    assert len(seg) == 1 and len(sr) == 1
    assert not [p for p in Path(job.output_dir).iterdir() if not p.name.endswith(".dcm")]


def test_transient_write_fault_is_retried_with_backoff_then_given_up(start_worker, make_series):
    """An OSError while writing (here: a file where the output folder must go) is transient:
    retried ``max_retries`` (1) times, then failed naming the attempts and the cause."""
    from hub.jobs.execution import results_dir

    folder, series = make_series()
    job = submit(folder, series, "bright-test")
    blocker = results_dir(job)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    start_worker()
    job = wait_for(job.pk, DONE)
    assert job.state == "failed" and job.attempts == 2
    assert job.error.startswith("gave up after 2 attempts: FileExistsError")
    assert job.error_kind == "Transient"
    blocker.unlink()
    from hub.jobs.services import retry_job

    retry_job(job.pk)
    assert wait_for(job.pk, DONE).state == "succeeded"


def test_model_queue_from_settings_reaches_only_workers_of_that_queue(
    start_worker, make_series, jobs_env
):
    from hub.settings import get_settings, override_settings

    options = get_settings().jobs.model_dump()
    override_settings(jobs={**options, "queues": {"bright-test": "gpu"}})
    folder, series = make_series()
    job = submit(folder, series, "bright-test")
    assert job.queue == "gpu"
    start_worker(queues="default")
    time.sleep(2)
    job.refresh_from_db()
    assert job.state == "queued"  # nobody consumes "gpu" yet
    start_worker(queues="gpu")
    assert wait_for(job.pk, DONE).state == "succeeded"


def test_jobs_behind_a_killed_worker_are_not_lost(start_worker, make_series):
    """A worker holding a running job (and possibly more it fetched) dies: every job still
    runs once another worker is up, whatever the broker did with the fetched messages."""
    first = start_worker(concurrency=2)
    jobs = [submit(*make_series(), "slow-test") for _ in range(5)]
    wait_for(jobs[0].pk, ("running",), timeout=20)
    time.sleep(0.5)  # let the worker fetch what it will
    first.kill()
    start_worker()
    finished = [wait_for(job.pk, DONE, timeout=90) for job in jobs]
    assert [job.state for job in finished] == ["succeeded"] * 5, [j.error for j in finished]
    for job in finished:
        seg, sr = result_files(job)
        assert len(seg) == 1 and len(sr) == 1


def test_urgent_jobs_jump_the_queue_on_redis_fifo_on_the_embedded_broker(
    start_worker, make_series
):
    """Redis honours job priority (urgent before off-peak); kombu's filesystem transport has no
    priorities, so the embedded broker runs jobs in submission order (documented)."""
    from hub.jobs.models import Job

    waiting = [submit(*make_series(), "bright-test", priority=Job.Priority.OFF_PEAK)
               for _ in range(3)]
    urgent = submit(*make_series(), "bright-test", priority=Job.Priority.URGENT)
    start_worker(concurrency=1)
    done = [wait_for(job.pk, DONE, timeout=60) for job in [*waiting, urgent]]
    assert all(job.state == "succeeded" for job in done)
    order = [job.pk for job in sorted(done, key=lambda job: job.started_at)]
    if os.environ.get("PACS_HUB_BROKER_URL", "").startswith("redis"):
        assert order[0] == urgent.pk, order
    else:
        assert order == [job.pk for job in [*waiting, urgent]], order


def test_message_lost_by_the_embedded_broker_is_sent_again(make_series):
    """The filesystem broker deletes a message when a worker fetches it: a worker killed before
    claiming takes it along. The reaper finds the overdue queued job and sends it again; a job
    whose message still waits is left alone."""
    from datetime import timedelta

    from django.utils import timezone

    from hub.jobs.celery_app import broker_folders, embedded_task_ids, is_embedded
    from hub.jobs.models import Job
    from hub.jobs.services import requeue_lost_messages
    from hub.settings import get_settings

    settings = get_settings()
    if not is_embedded(settings):
        assert requeue_lost_messages() == []  # Redis redelivers by itself
        return
    lost, waiting = (submit(*make_series(), "bright-test") for _ in range(2))
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert {lost.task_id, waiting.task_id} <= embedded_task_ids(settings)
    assert requeue_lost_messages() == []  # not yet overdue
    past = timezone.now() - timedelta(seconds=settings.jobs.lease_seconds + 5)
    Job.objects.filter(pk__in=[lost.pk, waiting.pk]).update(due_at=past)
    for path in broker_folders(settings)["in"].glob("*.msg"):
        if lost.task_id in path.read_text():
            path.unlink()  # what a fetching worker does
    assert lost.task_id not in embedded_task_ids(settings)
    assert requeue_lost_messages() == [lost.pk]
    lost.refresh_from_db()
    assert lost.task_id in embedded_task_ids(settings)
    assert lost.due_at > past
    assert requeue_lost_messages() == []  # sent once, not again on every sweep


def test_job_of_a_model_switched_off_while_queued_is_cancelled_not_run(
    start_worker, make_series
):
    """An admin switches a model off while its job waits: the worker cancels the job with the
    reason instead of running it; once the model is back on, retry runs it."""
    from hub.jobs.services import retry_job
    from hub.jobs.toggles import set_enabled

    folder, series = make_series()
    job = submit(folder, series, "bright-test")
    set_enabled("bright-test", False, changed_by="admin", reason="test")
    try:
        start_worker()
        job = wait_for(job.pk, DONE)
        assert job.state == "cancelled" and job.attempts == 0
        assert job.error_kind == "ModelDisabled" and "switched off" in job.error
    finally:
        set_enabled("bright-test", True, changed_by="admin")
    retry_job(job.pk)
    assert wait_for(job.pk, DONE).state == "succeeded"
