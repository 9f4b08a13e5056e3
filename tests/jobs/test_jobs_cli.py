"""``pacs-hub jobs list|show|submit|retry|cancel`` against real workers."""

from __future__ import annotations

import json

from jobs_helpers import wait_for

from hub.cli.main import main

DONE = ("succeeded", "failed", "cancelled")


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submit_show_list_and_retry_a_failed_job(start_worker, make_series, capsys):
    start_worker()
    folder, _ = make_series()
    code, out, err = run(["jobs", "submit", "--model", "raising-test", str(folder)], capsys)
    assert code == 0, err
    job_id = int(out.strip())
    assert wait_for(job_id, DONE).state == "failed"
    code, out, _ = run(["jobs", "show", str(job_id), "--json"], capsys)
    shown = json.loads(out)
    assert shown["state"] == "failed" and shown["attempts"] == 1
    assert "deliberate failure" in shown["error"]
    code, out, _ = run(["jobs", "list", "--state", "failed", "--json"], capsys)
    assert [job["id"] for job in json.loads(out)] == [job_id]
    code, out, _ = run(["jobs", "list"], capsys)
    assert "raising-test@1.0" in out and "failed" in out
    code, out, _ = run(["jobs", "retry", str(job_id)], capsys)
    assert code == 0 and f"job {job_id} queued again" in out
    job = wait_for(job_id, DONE)
    assert job.state == "failed" and job.attempts == 1  # retried once, failed once again


def test_cancel_queued_job_then_retry_it(start_worker, make_series, capsys):
    folder, _ = make_series()
    code, out, _ = run(["jobs", "submit", "--model", "bright-test", str(folder)], capsys)
    job_id = int(out.strip())
    code, out, _ = run(["jobs", "cancel", str(job_id)], capsys)
    assert code == 0 and f"job {job_id} cancelled" in out
    code, _, err = run(["jobs", "cancel", str(job_id)], capsys)
    assert code == 2 and "already cancelled" in err
    start_worker()  # the cancelled job's message is consumed and dropped
    code, out, _ = run(["jobs", "retry", str(job_id)], capsys)
    assert code == 0
    assert wait_for(job_id, DONE).state == "succeeded"
    code, _, err = run(["jobs", "retry", str(job_id)], capsys)
    assert code == 2 and "only failed or cancelled jobs" in err


def test_cancel_running_job(start_worker, make_series, capsys):
    start_worker()
    folder, _ = make_series()
    code, out, _ = run(["jobs", "submit", "--model", "slow-test", str(folder)], capsys)
    job_id = int(out.strip())
    wait_for(job_id, ("running",))
    code, out, _ = run(["jobs", "cancel", str(job_id)], capsys)
    assert code == 0 and "cancelled" in out
    job = wait_for(job_id, DONE)
    assert job.state == "cancelled"
    assert not job.result  # the worker's late result is not recorded


def test_unknown_job_and_model_errors(make_series, capsys):
    code, _, err = run(["jobs", "show", "999999"], capsys)
    assert code == 2 and "no job with id 999999" in err
    folder, _ = make_series()
    code, _, err = run(["jobs", "submit", "--model", "nope", str(folder)], capsys)
    assert code == 4 and "error:" in err
    code, _, err = run(
        ["jobs", "submit", "--model", "bright-test", "--route", "nowhere", str(folder)], capsys
    )
    assert code == 2 and "unknown route 'nowhere'" in err and "none configured" in err
