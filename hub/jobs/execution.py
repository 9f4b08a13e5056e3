"""What a worker does with one job id: claim, run the model, write SEG/SR, record the outcome.

Deterministic errors (the hub's input, acceptance, inference and result errors) fail the job at
once with their cause; transient faults (database, disk, broker) are retried with exponential
backoff up to ``[jobs] max_retries``; a soft time limit fails the job with "timed out after N s".
Results are idempotent (deterministic UIDs, atomic renames), so a re-run after a lost worker
leaves exactly one SEG and one SR.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection
from kombu.exceptions import OperationalError as BrokerError

from hub.errors import HubError, ResultError
from hub.jobs import services
from hub.jobs.models import Job
from hub.results.uids import is_valid_uid
from hub.settings import get_settings

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, BrokerError, OSError)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")


def results_dir(job: Job) -> Path:
    """``DATA_DIR/results/<StudyUID>/<SeriesUID>/<model>-<version>``, from validated parts only."""
    study, series = job.study_instance_uid, job.series_instance_uid
    if not (is_valid_uid(study) and is_valid_uid(series)):
        raise ResultError(f"job {job.pk} has an invalid UID", "submit the series again")
    if not (_SLUG.match(job.model_name) and _VERSION.match(job.model_version)):
        raise ResultError(
            f"model {job.model_name!r} version {job.model_version!r} is unusable in a path",
            "use a slug name and a plain version",
        )
    root = get_settings().data_dir.resolve() / "results"
    return root / study / series / f"{job.model_name}-{job.model_version}"


def is_transient(error: HubError) -> bool:
    """A hub error caused by the disk or network (full disk, stale NFS handle), not the data.

    A missing source file is not transient: the series was moved or deleted.
    """
    cause = error.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError)


def format_seconds(value: float) -> str:
    """``10`` for 10.0, ``2.5`` for 2.5."""
    return f"{value:g}"


class Heartbeat(threading.Thread):
    """Refreshes the job's lease while it runs; notices when the job is taken from us."""

    def __init__(self, job_id: int, owner: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.owner, self.interval = job_id, owner, interval
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    if not services.heartbeat(self.job_id, self.owner):
                        self.lost = True
                        logger.warning("job %s is no longer owned by this worker", self.job_id)
                        return
                except DatabaseError as exc:
                    logger.warning("job %s: heartbeat failed: %s", self.job_id, exc)
        finally:
            db_connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def execute(
    job_id: int, task_id: str = "", redelivered: bool = False, soft_limit: float = 0
) -> str:
    """Run job ``job_id`` if it is ours to run; returns what happened (for logs and tests)."""
    close_old_connections()
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s does not exist; message dropped", job_id)
        return "missing"
    if job.finished:
        logger.info("job %s already %s; nothing to do", job_id, job.state)
        return "skipped"
    if _switched_off(job):
        return "cancelled"
    owner = services.new_owner()
    if not services.claim(job_id, owner, task_id):
        logger.info(
            "job %s is %s and owned elsewhere%s; message dropped",
            job_id, job.state, " (redelivered)" if redelivered else "",
        )
        return "not-claimed"
    job.refresh_from_db()
    logger.info(
        "job %s claimed: %s@%s on series %s, attempt %s%s",
        job_id, job.model_name, job.model_version, job.series_instance_uid, job.attempts,
        " (redelivered)" if redelivered else "",
    )
    options = get_settings().jobs
    limit = soft_limit or options.time_limit(job.model_name)
    beat = Heartbeat(job_id, owner, max(0.2, options.lease_seconds / 3))
    beat.start()
    try:
        timings, summary, out_dir = run_pipeline(job)
    except SoftTimeLimitExceeded:
        return _fail(job, owner, f"timed out after {format_seconds(limit)} s", "TimeLimit")
    except HubError as error:
        if isinstance(error.__cause__, SoftTimeLimitExceeded):
            return _fail(job, owner, f"timed out after {format_seconds(limit)} s", "TimeLimit")
        if is_transient(error):
            return _retry_or_fail(job, owner, error)
        return _fail(job, owner, str(error), type(error).__name__)
    except TRANSIENT as exc:
        return _retry_or_fail(job, owner, exc)
    except Exception as exc:
        logger.exception("job %s failed unexpectedly", job_id)
        return _fail(job, owner, f"{type(exc).__name__}: {exc}", type(exc).__name__)
    finally:
        beat.stop()
    done = services.finish(
        job_id, owner, Job.State.SUCCEEDED,
        timings=timings, result=summary, output_dir=str(out_dir),
    )
    if not done:
        logger.warning("job %s finished but was cancelled or taken over meanwhile", job_id)
        return "lost"
    logger.info(
        "job %s succeeded in %.2f s (series %s)", job_id, timings["total"], job.series_instance_uid
    )
    _hand_off(job_id)
    return "succeeded"


def _hand_off(job_id: int) -> None:
    """Give the results to the outbox (hub storage, send_to peers). A failure is logged and the
    job stays succeeded: the outbox sweep in every worker's reaper hands it off later."""
    try:
        from hub.dimse.outbox import job_succeeded

        job_succeeded(Job.objects.get(pk=job_id))
    except Exception:
        logger.exception("job %s: hand-off to the outbox failed; the outbox sweep retries", job_id)


def _switched_off(job: Job) -> bool:
    """Cancel a queued job whose model an administrator switched off meanwhile (it can be
    retried once the model is on again); True when it was cancelled here."""
    from django.utils import timezone

    from hub.jobs.toggles import is_disabled

    if not is_disabled(job.model_name):
        return False
    now = timezone.now()
    cancelled = Job.objects.filter(pk=job.pk, state__in=services.CLAIMABLE).update(
        state=Job.State.CANCELLED, finished_at=now, updated_at=now, error_kind="ModelDisabled",
        error=f"model {job.model_name} was switched off before the job started; retry it once "
        "the model is enabled again",
    )
    if cancelled:
        logger.info("job %s cancelled: model %s is switched off", job.pk, job.model_name)
    return bool(cancelled)


def _fail(job: Job, owner: str, error: str, kind: str) -> str:
    logger.warning("job %s (series %s) failed: %s", job.pk, job.series_instance_uid, error)
    services.finish(job.pk, owner, Job.State.FAILED, error=error, error_kind=kind)
    return "failed"


def _retry_or_fail(job: Job, owner: str, exc: BaseException) -> str:
    options = get_settings().jobs
    kind = type(exc.__cause__ if isinstance(exc, HubError) and exc.__cause__ else exc).__name__
    error = f"{kind}: {exc}"
    if job.attempts > options.max_retries:
        return _fail(job, owner, f"gave up after {job.attempts} attempts: {error}", "Transient")
    delay = options.retry_backoff * 2 ** (job.attempts - 1)
    logger.warning(
        "job %s (series %s): transient fault, retry %s in %.1f s: %s",
        job.pk, job.series_instance_uid, job.attempts, delay, error,
    )
    services.finish(job.pk, owner, Job.State.RETRYING, error=error, error_kind="Transient")
    services.enqueue(job, countdown=delay)
    return "retrying"


def run_pipeline(job: Job) -> tuple[dict[str, float], dict[str, Any], Path]:
    """Load the series, run the model, write SEG/SR; returns timings, summary and folder."""
    from hub.inference import load_series, run_model
    from hub.plugins.manager import get_registry
    from hub.results.writer import write_results

    loaded = get_registry().get(job.model_name, job.model_version)
    out_dir = results_dir(job)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    series = load_series(job.source_paths)
    timings["load"] = time.perf_counter() - started
    if series.series_instance_uid != job.series_instance_uid:
        from hub.errors import InputError

        raise InputError(
            f"the files of job {job.pk} hold series {series.series_instance_uid}, "
            f"not {job.series_instance_uid}",
            "submit the job again for the files as they are now",
        )
    outcome = run_model(loaded, series)
    timings.update(outcome.timings)
    started = time.perf_counter()
    files = write_results(series, loaded.manifest, outcome.result, out_dir)
    timings["write"] = time.perf_counter() - started
    timings["total"] = sum(
        timings.get(k, 0.0) for k in ("load", "preprocess", "inference", "postprocess", "write")
    )
    summary = _summary(series, loaded, outcome, files)
    return {k: round(v, 4) for k, v in timings.items()}, summary, out_dir


def _summary(series: Any, loaded: Any, outcome: Any, files: Any) -> dict[str, Any]:
    from hub.results.summary import findings_summary

    return {
        "seg": {"uid": files.seg_uid, "path": str(files.seg_path) if files.seg_path else None},
        "sr": {"uid": files.sr_uid, "path": str(files.sr_path) if files.sr_path else None},
        **findings_summary(series, loaded.manifest, outcome.result, files),
        "slices": int(series.volume.shape[0]),
    }
