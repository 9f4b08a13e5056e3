"""JSON-ready views of stored series, their routing decisions and jobs (CLI, API)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.db import setup
from hub.errors import InputError
from hub.routing.facts import RoutingError

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from hub.storage.models import Series


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def get_series(series_uid: str) -> Series:
    """The indexed series ``series_uid``, or :class:`RoutingError` naming the fix."""
    setup()
    from hub.storage.models import Series

    series = Series.objects.filter(series_instance_uid=series_uid).first()
    if series is None:
        raise RoutingError(
            f"no series {series_uid} in the index",
            "list the stored series with 'pacs-hub series list'",
        )
    return series


def list_series(state: str | None = None, limit: int = 50) -> QuerySet[Series]:
    """Series, most recently received first, optionally only those in ``state``."""
    setup()
    from hub.storage.models import Series

    query = Series.objects.all()
    if state:
        if state not in Series.State.values:
            raise InputError(
                f"unknown series state {state!r}", f"use one of {', '.join(Series.State.values)}"
            )
        query = query.filter(state=state)
    return query[:limit]


def series_summary(series: Series) -> dict[str, Any]:
    """State, counts, AE titles and times of one series (no patient identifiers)."""
    pending_rerun = series.state == "receiving" and series.completion_run > 0
    return {
        "SeriesInstanceUID": series.series_instance_uid,
        "StudyInstanceUID": series.study_instance_uid,
        "state": series.state,
        "Modality": series.modality,
        "BodyPartExamined": series.body_part_examined,
        "SeriesDescription": series.series_description,
        "instances": series.instance_count,
        "late_instances": series.late_instance_count,
        "calling_ae": series.calling_ae,
        "called_ae": series.called_ae,
        "hub_results": series.hub_results,
        "completion_run": series.completion_run,
        "completion_reason": series.completion_reason,
        "rerun_pending": pending_rerun,
        "first_received_at": _time(series.first_received_at),
        "last_received_at": _time(series.last_received_at),
        "released_at": _time(series.released_at),
        "completed_at": _time(series.completed_at),
    }


def series_detail(series: Series) -> dict[str, Any]:
    """:func:`series_summary` plus every routing decision and every job of the series."""
    from hub.jobs.models import Job
    from hub.routing.models import RoutingDecision

    detail = series_summary(series)
    detail["ignored_instances"] = series.instances.filter(ignored_for_routing=True).count()
    detail["decisions"] = [
        {
            "run": d.run,
            "route": d.route,
            "model": d.model_name,
            "outcome": d.outcome,
            "reason": d.reason,
            "job": d.job_id,
            "at": _time(d.created_at),
        }
        for d in RoutingDecision.objects.filter(series=series).order_by("run", "id")
    ]
    detail["jobs"] = [
        {
            "id": job.pk,
            "model": f"{job.model_name}@{job.model_version}",
            "run": job.run,
            "state": job.state,
            "trigger": job.trigger,
            "route": job.route,
            "also_routes": list(job.also_routes or []),
            "priority": Job.Priority(job.priority).label,
            "error": job.error,
        }
        for job in Job.objects.filter(series_instance_uid=series.series_instance_uid).order_by(
            "id"
        )
    ]
    return detail
