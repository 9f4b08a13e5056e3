"""The AI results of one study for the report page: jobs, their SR content and reviews."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.jobs.models import Job
from hub.settings import get_settings
from hub.storage.models import Instance, Series
from hub.web.ui.models import ResultReview
from hub.web.ui.srreport import Measurement, SrReport, read_report
from hub.web.ui.studies import SHOWN_STATE

log = logging.getLogger(__name__)


@dataclass
class ResultEntry:
    """One model run on one series of the study, as the report shows it."""

    job: Job
    state: str
    series_description: str = ""
    report: SrReport | None = None
    report_error: str = ""
    #: From the job's own summary when there is no SR (SEG-only models).
    segments: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    reviews: list[ResultReview] = field(default_factory=list)

    @property
    def review(self) -> ResultReview | None:
        return self.reviews[0] if self.reviews else None

    @property
    def model_name(self) -> str:
        return (self.report and self.report.algorithm_name) or self.job.model_name

    @property
    def model_version(self) -> str:
        return (self.report and self.report.algorithm_version) or self.job.model_version


def sr_path(job: Job) -> Path | None:
    """The SR file of a succeeded job: its output folder, else the stored result instance."""
    sr = (job.result or {}).get("sr") or {}
    data_dir = get_settings().data_dir.resolve()
    candidate = sr.get("path")
    if candidate:
        path = Path(candidate)
        allowed = [data_dir] + ([Path(job.output_dir).resolve()] if job.output_dir else [])
        resolved = path.resolve()
        if resolved.is_file() and any(resolved.is_relative_to(root) for root in allowed):
            return resolved
    uid = sr.get("uid")
    if uid:
        instance = Instance.objects.filter(sop_instance_uid=uid).first()
        if instance is not None:
            stored = (data_dir / instance.path).resolve()
            if stored.is_file() and stored.is_relative_to(data_dir):
                return stored
    return None


def study_results(study_uid: str) -> list[ResultEntry]:
    """The latest run of each model on each series of the study, with SR content and reviews."""
    latest: dict[tuple[str, str], Job] = {}
    for job in Job.objects.filter(study_instance_uid=study_uid).order_by("id"):
        latest[(job.model_name, job.series_instance_uid)] = job
    descriptions = dict(
        Series.objects.filter(study_instance_uid=study_uid).values_list(
            "series_instance_uid", "series_description"
        )
    )
    reviews: dict[int, list[ResultReview]] = {}
    for review in ResultReview.objects.filter(job__in=list(latest.values())):
        reviews.setdefault(review.job_id, []).append(review)  # newest first (Meta.ordering)
    entries = []
    for job in sorted(latest.values(), key=lambda j: (j.model_name, j.pk)):
        entry = ResultEntry(
            job=job,
            state=SHOWN_STATE[job.state],
            series_description=descriptions.get(job.series_instance_uid, ""),
            reviews=reviews.get(job.pk, []),
        )
        if job.state == Job.State.SUCCEEDED:
            _fill(entry)
        entries.append(entry)
    return entries


def _fill(entry: ResultEntry) -> None:
    result = entry.job.result or {}
    entry.segments = [s for s in result.get("segments") or [] if isinstance(s, dict)]
    path = sr_path(entry.job)
    if path is not None:
        try:
            entry.report = read_report(path)
            return
        except ValueError as exc:
            log.warning("job %s: %s", entry.job.pk, exc)
            entry.report_error = "the stored SR could not be read; showing the job summary"
    elif "sr" in result and (result.get("sr") or {}).get("uid"):
        entry.report_error = "the SR file is no longer on disk; showing the job summary"
    entry.measurements = [
        Measurement(str(m.get("key", "")), float(m.get("value", 0.0)), str(m.get("unit", "")),
                    str(m.get("unit", "")))
        for m in result.get("measurements") or []
        if isinstance(m, dict) and isinstance(m.get("value"), int | float)
    ]
