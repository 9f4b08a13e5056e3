"""Series completion: when a stored series is complete, and routing it exactly once per run.

A ``receiving`` series is due when

* ``SERIES_QUIET_SECONDS`` passed since its last instance (reason ``quiet``), or
* the association that brought it was released (:func:`association_released`) at least
  ``[dicom] release_grace_seconds`` ago with no instance after the release (``released``), or
* it holds results the hub wrote itself (``source="result"``): completed at once and never
  routed (``result``).

An admin can complete a series at once (:func:`force_complete`, reason ``forced``).

Exactly once: each sweep evaluates the rules first (reading one header, outside any
transaction), then, in **one transaction**, claims the series with a conditional ``UPDATE``
(``state = receiving`` and the ``last_received_at`` it saw), records every decision and
creates the jobs, whose messages are sent only when that transaction commits. A second
process sweeping at the same time updates no row and does nothing; a process that dies
before its commit leaves the series ``receiving``, so the next sweep of any process completes
it; an instance stored meanwhile changes ``last_received_at`` and defers the series.

Each completion increments ``completion_run``. A new instance stored into a complete series
re-opens it (``[dicom] late_instances = "rerun"``, see :mod:`hub.storage.index`); its next
completion is a re-run: the rules are evaluated again and the jobs are submitted with
``force`` (a new job run per model), marked so in the decisions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from hub.db import setup
from hub.errors import HubError
from hub.routing.facts import RoutingError, stored_facts
from hub.routing.rules import Decision, Outcome, Plan, evaluate

if TYPE_CHECKING:
    from hub.jobs.models import Job
    from hub.storage.models import Series

log = logging.getLogger(__name__)

#: Series completed per sweep at most; the rest wait for the next sweep.
SWEEP_LIMIT = 200


@dataclass(frozen=True)
class Completed:
    """One series completed by this process."""

    series_instance_uid: str
    run: int
    reason: str
    job_ids: list[int] = field(default_factory=list)


def association_released(series_uids: Iterable[str]) -> int:
    """Record that the association bringing ``series_uids`` was released (or aborted).

    Called by the SCP when an association ends. Returns the number of receiving series
    updated; they complete after ``release_grace_seconds`` unless more instances arrive.
    """
    uids = sorted({uid for uid in series_uids if uid})
    if not uids:
        return 0
    setup()
    from hub.storage.models import Series

    return Series.objects.filter(
        series_instance_uid__in=uids, state=Series.State.RECEIVING
    ).update(released_at=timezone.now())


def complete_due_series(now: datetime | None = None) -> list[Completed]:
    """Complete and route every due series (one sweep); returns those this call completed.

    ``now`` (default: the current time) is the time the quiet and grace periods are measured
    against. A series whose routing raises an unexpected error stays ``receiving`` and is
    tried again by the next sweep.
    """
    setup()
    from hub.settings import get_settings
    from hub.storage.models import Series

    now = now or timezone.now()
    settings = get_settings()
    quiet_cutoff = now - timedelta(seconds=settings.series_quiet_seconds)
    grace_cutoff = now - timedelta(seconds=settings.dicom.release_grace_seconds)
    released = Q(
        released_at__isnull=False,
        released_at__gte=F("last_received_at"),
        released_at__lte=grace_cutoff,
    )
    due = (
        Series.objects.filter(state=Series.State.RECEIVING)
        .filter(Q(hub_results=True) | Q(last_received_at__lte=quiet_cutoff) | released)
        .annotate(by_release=Q(released))
        .order_by("last_received_at")
        .values_list("pk", "hub_results", "by_release", "last_received_at")[:SWEEP_LIMIT]
    )
    completed: list[Completed] = []
    for pk, results, by_release, last in list(due):
        if results:
            reason = Series.CompletionReason.RESULT
        elif by_release:
            reason = Series.CompletionReason.RELEASED
        else:
            reason = Series.CompletionReason.QUIET
        try:
            done = _complete(pk, reason, last)
        except Exception:
            log.exception("series row %s: completion failed; tried again next sweep", pk)
            continue
        if done is not None:
            completed.append(done)
    return completed


def force_complete(series_uid: str) -> Completed:
    """Complete and route a receiving series now (an admin's command).

    Raises :class:`RoutingError` when the series is unknown or already complete.
    """
    setup()
    from hub.storage.models import Series

    series = Series.objects.filter(series_instance_uid=series_uid).first()
    if series is None:
        raise RoutingError(
            f"no series {series_uid} in the index",
            "list the stored series with 'pacs-hub series list'",
        )
    if series.state == Series.State.COMPLETE:
        raise RoutingError(
            f"series {series_uid} is already complete (run {series.completion_run})",
            "to run a model again use 'pacs-hub jobs submit --force --model NAME "
            "<series folder>'",
        )
    done = _complete(series.pk, Series.CompletionReason.FORCED, None)
    if done is None:
        raise RoutingError(
            f"series {series_uid} was completed meanwhile by another process",
            "see 'pacs-hub series show UID'",
        )
    return done


def _complete(pk: int, reason: str, last_received: datetime | None) -> Completed | None:
    """Plan, then claim + record + submit in one transaction; None when not claimed here."""
    from hub.storage.models import Series

    series = Series.objects.get(pk=pk)
    plan = _plan(series)
    with transaction.atomic():
        claim = Series.objects.filter(pk=pk, state=Series.State.RECEIVING)
        if last_received is not None:
            claim = claim.filter(last_received_at=last_received)
        claimed = claim.update(
            state=Series.State.COMPLETE,
            completed_at=timezone.now(),
            completion_reason=reason,
            completion_run=F("completion_run") + 1,
        )
        if not claimed:
            return None
        series.refresh_from_db()
        job_ids = _record(series, plan)
    log.info(
        "series %s completed (run %d, %s): %d job(s) submitted",
        series.series_instance_uid, series.completion_run, reason, len(job_ids),
    )
    return Completed(series.series_instance_uid, series.completion_run, reason, job_ids)


def _plan(series: Series) -> Plan:
    """The routing plan of a stored series (results and unreadable series: not routed)."""
    from hub.plugins.manager import get_registry
    from hub.settings import get_settings
    if series.hub_results:
        return Plan(
            [
                Decision(
                    Outcome.NOT_ROUTED,
                    "the series holds results written by the hub (source=result); "
                    "never routed",
                )
            ]
        )
    try:
        facts = stored_facts(series)
    except RoutingError as exc:
        return Plan([Decision(Outcome.ERROR, f"not routed: {exc.cause}")])
    from hub.jobs.toggles import switched_off

    return evaluate(facts, get_settings().routes, get_registry(), switched_off())


def _record(series: Series, plan: Plan) -> list[int]:
    """Store the run's decisions and submit the accepted models; returns the job ids."""
    from hub.jobs.models import Job
    from hub.jobs.services import submit_job
    from hub.routing.models import RoutingDecision
    run = series.completion_run
    rerun = run > 1
    started = timezone.now()
    RoutingDecision.objects.create(
        series=series, run=run, outcome=Outcome.COMPLETED, reason=_completion_text(series)
    )
    priorities = {label: value for value, label in Job.Priority.choices}
    job_ids: list[int] = []
    jobs: dict[str, Job] = {}
    for decision in plan.decisions:
        outcome, reason, job = decision.outcome, decision.reason, None
        if decision.outcome == Outcome.ACCEPTED:
            try:
                job = submit_job(
                    series.series_instance_uid,
                    series.study_instance_uid,
                    decision.model,
                    [series_folder(series.study_instance_uid, series.series_instance_uid)],
                    trigger=Job.Trigger.ROUTE,
                    route=decision.route,
                    also_routes=plan.also_routes.get(decision.model),
                    priority=priorities.get(decision.priority, Job.Priority.NORMAL),
                    force=rerun,
                )
            except HubError as exc:
                outcome, reason = Outcome.SKIPPED, f"model {decision.model} skipped: {exc}"
            else:
                outcome = Outcome.SUBMITTED
                existed = job.created_at is not None and job.created_at < started
                what = "already existed" if existed else "submitted"
                reason = f"{reason}: job {job.pk} {what} (job run {job.run})"
                job_ids.append(job.pk)
                jobs[decision.model] = job
        elif decision.route in plan.also_routes.get(decision.model, ()):
            job, reason = _delivery_route(decision, jobs.get(decision.model))
        RoutingDecision.objects.create(
            series=series, run=run, route=decision.route, model_name=decision.model,
            outcome=outcome, reason=reason, job=job,
        )
    return job_ids


def _delivery_route(decision: Decision, job: Job | None) -> tuple[Job | None, str]:
    """The job and reason of a decision adding ``decision.route`` as a delivery route."""
    if job is None:  # the model's job could not be submitted: nothing to deliver
        return None, f"{decision.reason} (but no job was submitted)"
    if decision.route not in (job.also_routes or []):  # an earlier job was found instead
        return job, (
            f"model {decision.model} already chosen; job {job.pk} already existed without "
            f"route {decision.route}, so its results do not go to that route's send_to"
        )
    return job, f"{decision.reason}: job {job.pk}"


def _completion_text(series: Series) -> str:
    from hub.storage.models import Series

    why = Series.CompletionReason(series.completion_reason).label
    text = f"completed run {series.completion_run}: {why}"
    if series.completion_run > 1:
        text += (
            f"; re-run for {series.late_instance_count} late instance(s) "
            "(late_instances = rerun): models run again as new job runs"
        )
    return text


def series_folder(study_uid: str, series_uid: str) -> Path:
    """``DATA_DIR/instances/<Study>/<Series>``, built from validated UIDs only."""
    from hub.storage import files
    from hub.storage.uids import validate_uid

    study = validate_uid(study_uid, "StudyInstanceUID")
    series = validate_uid(series_uid, "SeriesInstanceUID")
    return files.data_dir() / files.INSTANCES / study / series


class CompletionLoop:
    """A daemon thread running :func:`complete_due_series` every ``interval`` seconds.

    The first sweep runs at :meth:`start`, so series left pending by a restart complete at
    once. An exception in a sweep is logged and the loop goes on (with a fresh database
    connection); the thread's connection is closed when it stops.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.sweeps = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when already running)."""
        if self.running:
            return
        setup()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="series-completion", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for the sweep in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sweep(self) -> list[Completed]:
        """One sweep; exceptions are logged, never raised."""
        from django.db import close_old_connections, connection

        close_old_connections()
        try:
            return complete_due_series()
        except Exception:
            self.failures += 1
            log.exception("series completion sweep failed; next try in %.1f s", self.interval)
            connection.close()
            return []
        finally:
            self.sweeps += 1

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                self.sweep()
                self._stop.wait(self.interval)
        finally:
            connection.close()
