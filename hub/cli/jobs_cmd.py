"""``pacs-hub worker`` and ``pacs-hub jobs list|show|submit|retry|cancel``."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from hub.errors import InputError

app = typer.Typer(
    help="Inference jobs: list, inspect, submit, retry, cancel.", no_args_is_help=True
)


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated queues to consume.")
    ] = "default",
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Processes (default: CPUs).")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Worker log level.")] = "info",
) -> None:
    """Run a job worker (Celery, prefork pool) on the configured broker and database."""
    from hub.db import setup
    from hub.jobs.celery_app import get_app
    from hub.settings import get_settings

    setup()
    settings = get_settings()
    processes = concurrency or settings.jobs.concurrency or os.cpu_count() or 1
    celery = get_app()
    import hub.jobs.tasks  # noqa: F401  (registers the task and the worker signals)

    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={processes}",
        f"--queues={queues}",
        f"--loglevel={loglevel.upper()}",
        f"--hostname=hub-{os.getpid()}@{socket.gethostname()}",
        "--without-gossip",
        "--without-mingle",
    ]
    celery.worker_main(argv)


def _setup() -> None:
    from hub.db import setup

    setup()


@app.command("list")
def list_jobs(
    state: Annotated[str | None, typer.Option("--state", help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many jobs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List jobs, newest first."""
    _setup()
    from hub.jobs.models import Job
    from hub.jobs.services import job_summary

    query = Job.objects.all()
    if state:
        if state not in Job.State.values:
            raise InputError(
                f"unknown state {state!r}", f"use one of {', '.join(Job.State.values)}"
            )
        query = query.filter(state=state)
    jobs = list(query[:limit])
    if as_json:
        typer.echo(json.dumps([job_summary(job) for job in jobs], indent=2))
        return
    if not jobs:
        typer.echo("no jobs")
        return
    typer.echo(f"{'ID':>6}  {'STATE':<10} {'MODEL':<24} {'ATT':>3}  SERIES")
    for job in jobs:
        model = f"{job.model_name}@{job.model_version}"
        typer.echo(
            f"{job.pk:>6}  {job.state:<10} {model:<24} {job.attempts:>3}  "
            f"{job.series_instance_uid}"
        )


@app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one job: state, attempts, timings, result, error."""
    _setup()
    from hub.jobs.services import get_job, job_summary

    summary = job_summary(get_job(job_id))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        if value in ("", None, {}, []):
            continue
        if isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        typer.echo(f"{key:<18}: {value}")


@app.command("submit")
def submit(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders of one series.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name.")],
    force: Annotated[bool, typer.Option("--force", help="Run again even if done.")] = False,
    priority: Annotated[
        str, typer.Option("--priority", help="urgent, normal or off-peak.")
    ] = "normal",
    queue: Annotated[str | None, typer.Option("--queue", help="Queue (default, gpu, ...).")] = None,
    route: Annotated[
        str | None,
        typer.Option("--route", help="Deliver the results like this [[routes]] rule (send_to)."),
    ] = None,
) -> None:
    """Queue a job for MODEL on a series (manual trigger); prints the job id."""
    _setup()
    from hub.jobs.models import Job
    from hub.jobs.services import submit_job
    from hub.settings import get_settings

    routes = [r.name for r in get_settings().routes]
    if route is not None and route not in routes:
        raise InputError(
            f"unknown route {route!r}", f"use one of: {', '.join(routes) or 'none configured'}"
        )

    levels = {label: value for value, label in Job.Priority.choices}
    if priority not in levels:
        raise InputError(f"unknown priority {priority!r}", "use urgent, normal or off-peak")
    series_uid, study_uid = _series_uids(paths)
    job = submit_job(
        series_uid, study_uid, model, paths, trigger=Job.Trigger.MANUAL,
        priority=levels[priority], queue=queue, force=force, route=route or "",
    )
    typer.echo(job.pk)


def _series_uids(paths: list[Path]) -> tuple[str, str]:
    import pydicom

    from hub.inference import collect_files

    files = collect_files(paths)
    if not files:
        raise InputError("no files found in the given paths", "give DICOM files or folders")
    try:
        first = pydicom.dcmread(files[0], stop_before_pixels=True)
    except Exception as exc:
        raise InputError(f"{files[0]} is not readable DICOM: {exc}", "give DICOM files") from exc
    return str(first.get("SeriesInstanceUID", "")), str(first.get("StudyInstanceUID", ""))


@app.command("retry")
def retry(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Queue a failed or cancelled job again."""
    _setup()
    from hub.jobs.services import retry_job

    job = retry_job(job_id)
    typer.echo(f"job {job.pk} queued again")


@app.command("cancel")
def cancel(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Cancel a queued or running job."""
    _setup()
    from hub.jobs.services import cancel_job

    job = cancel_job(job_id)
    typer.echo(f"job {job.pk} {job.state}")
