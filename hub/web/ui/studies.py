"""Studies for the worklist: the storage index, one header per study, and AI status per model.

The index (:mod:`hub.storage.models`) holds no patient identifiers, so the patient name, ID,
accession number, study date and description come from one representative stored file per
study, read without pixels and cached (:func:`study_header`). Cost: listing, filtering by
modality or AI status and sorting by arrival need only the database and read the headers of
the one page shown. Searching (patient name/ID/accession), filtering by study date and sorting
by a header field read the header of **every** matching study once; afterwards they come from
the cache (one entry per study, keyed by the representative instance, kept
:data:`HEADER_TTL` seconds). A header read is one small file read (about 0.1-1 ms from the page
cache), so a first search over 10,000 studies takes a few seconds and later ones are instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from django.core.cache import cache
from django.db.models import Count, Max, Sum
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from hub.jobs.models import Job
from hub.settings import get_settings
from hub.storage.models import Instance, Series
from hub.web.ui.models import ResultReview

log = logging.getLogger(__name__)

HEADER_TTL = 3600
HEADER_TAGS = (
    "PatientName", "PatientID", "AccessionNumber", "StudyDate", "StudyTime",
    "StudyDescription", "StudyID",
)  # fmt: skip

#: Job states as the worklist shows them.
SHOWN_STATE = {
    Job.State.QUEUED: "queued",
    Job.State.RETRYING: "queued",
    Job.State.RUNNING: "running",
    Job.State.SUCCEEDED: "done",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "cancelled",
}
#: Which state wins when a model ran on several series of a study.
STATE_RANK = {"running": 5, "queued": 4, "failed": 3, "cancelled": 2, "done": 1}


@dataclass(frozen=True)
class StudyHeader:
    """Patient and study attributes read from one file of the study ("" when absent)."""

    patient_name: str = ""
    patient_id: str = ""
    accession_number: str = ""
    study_date: str = ""  # YYYYMMDD
    study_time: str = ""
    study_description: str = ""
    readable: bool = True

    @property
    def date(self) -> date | None:
        try:
            return datetime.strptime(self.study_date[:8], "%Y%m%d").date()
        except ValueError:
            return None


@dataclass
class ModelStatus:
    """What one model did on a study: state, the job to open, a finding badge, the review."""

    model: str
    version: str
    state: str
    job_id: int
    badge: str = ""
    review: str = ""  # "accepted", "rejected" or ""
    reviewer: str = ""
    jobs: int = 1


@dataclass
class StudyRow:
    """One worklist line."""

    study_uid: str
    modalities: list[str]
    series_count: int
    instance_count: int
    received_at: datetime
    header: StudyHeader = field(default_factory=StudyHeader)
    models: list[ModelStatus] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The study's overall AI state: none, or the most active/worst of its models."""
        if not self.models:
            return "none"
        return max((m.state for m in self.models), key=lambda s: STATE_RANK.get(s, 0))

    @property
    def review(self) -> str:
        """``to-review`` when a finished result has no review, else accepted/rejected/""."""
        done = [m for m in self.models if m.state == "done"]
        if any(not m.review for m in done):
            return "to-review"
        if any(m.review == "rejected" for m in done):
            return "rejected"
        return "accepted" if done else ""


def format_name(value: object) -> str:
    """``DOE^JANE`` -> ``DOE, JANE`` for display."""
    text = str(value or "")
    parts = [p for p in text.split("^") if p]
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")


def representative_instance(study_uid: str) -> Instance | None:
    """The first stored source instance of a study (results only when nothing else)."""
    query = Instance.objects.filter(series__study_instance_uid=study_uid).order_by(
        "series__hub_results", "id"
    )
    return query.only("id", "path", "received_at").first()


def study_header(study_uid: str) -> StudyHeader:
    """Patient/study attributes of a study from one stored file, cached (see module doc)."""
    instance = representative_instance(study_uid)
    if instance is None:
        return StudyHeader(readable=False)
    key = f"hub-ui:header:{study_uid}:{instance.pk}:{instance.received_at.timestamp():.0f}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    header = _read_header(get_settings().data_dir.resolve() / instance.path, study_uid)
    cache.set(key, header, HEADER_TTL)
    return header


def _read_header(path: Path, study_uid: str) -> StudyHeader:
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=list(HEADER_TAGS))
    except (OSError, InvalidDicomError, ValueError) as exc:
        log.warning("study %s: header of %s unreadable: %s", study_uid, path.name, exc)
        return StudyHeader(readable=False)
    return StudyHeader(
        patient_name=format_name(ds.get("PatientName", "")),
        patient_id=str(ds.get("PatientID", "") or ""),
        accession_number=str(ds.get("AccessionNumber", "") or ""),
        study_date=str(ds.get("StudyDate", "") or ""),
        study_time=str(ds.get("StudyTime", "") or ""),
        study_description=str(ds.get("StudyDescription", "") or ""),
    )


def study_rows(modality: str = "") -> list[StudyRow]:
    """Every study with source series in the index (newest arrival first), without headers."""
    source = Series.objects.filter(hub_results=False)
    if modality:
        source = source.filter(
            study_instance_uid__in=source.filter(modality=modality).values("study_instance_uid")
        )
    grouped = (
        source.values("study_instance_uid")
        .annotate(series=Count("id"), instances=Sum("instance_count"),
                  received=Max("last_received_at"))
        .order_by("-received", "study_instance_uid")
    )
    modalities: dict[str, set[str]] = {}
    pairs = source.order_by().values_list("study_instance_uid", "modality").distinct()
    for uid, value in pairs:
        if value:
            modalities.setdefault(uid, set()).add(value)
    return [
        StudyRow(
            study_uid=row["study_instance_uid"],
            modalities=sorted(modalities.get(row["study_instance_uid"], ())),
            series_count=row["series"],
            instance_count=row["instances"] or 0,
            received_at=row["received"],
        )
        for row in grouped
    ]


def all_modalities() -> list[str]:
    """Modalities present in the index (source series), for the filter."""
    values = Series.objects.filter(hub_results=False).order_by().values_list(
        "modality", flat=True
    )
    return sorted({v for v in values.distinct() if v})


def attach_headers(rows: list[StudyRow]) -> None:
    """Fill each row's :attr:`StudyRow.header` (cached reads)."""
    for row in rows:
        row.header = study_header(row.study_uid)


def attach_models(rows: list[StudyRow]) -> None:
    """Fill each row's AI status per model from the job table and the reviews."""
    by_uid = {row.study_uid: row for row in rows}
    if not by_uid:
        return
    jobs = list(
        Job.objects.filter(study_instance_uid__in=list(by_uid)).only(
            "id", "study_instance_uid", "series_instance_uid", "model_name", "model_version",
            "run", "state", "result",
        ).order_by("id")
    )
    reviews = latest_reviews([job.pk for job in jobs])
    for uid, row in by_uid.items():
        row.models = model_statuses([j for j in jobs if j.study_instance_uid == uid], reviews)


def latest_reviews(job_ids: list[int]) -> dict[int, ResultReview]:
    """The latest review of each job that has one."""
    latest: dict[int, ResultReview] = {}
    for review in ResultReview.objects.filter(job_id__in=job_ids).order_by("created_at", "id"):
        latest[review.job_id] = review
    return latest


def model_statuses(jobs: list[Job], reviews: dict[int, ResultReview]) -> list[ModelStatus]:
    """One status per model over a study's jobs: the latest run of each series, combined."""
    latest: dict[tuple[str, str], Job] = {}
    for job in jobs:  # ordered by id: later runs overwrite earlier ones
        latest[(job.model_name, job.series_instance_uid)] = job
    per_model: dict[str, list[Job]] = {}
    for (model, _series), job in latest.items():
        per_model.setdefault(model, []).append(job)
    statuses = []
    for model, group in sorted(per_model.items()):
        shown = max(group, key=lambda j: (STATE_RANK.get(SHOWN_STATE[j.state], 0), j.pk))
        done = [j for j in group if j.state == Job.State.SUCCEEDED]
        reviewed = [reviews[j.pk] for j in done if j.pk in reviews]
        review = max(reviewed, key=lambda r: (r.created_at, r.pk)) if reviewed else None
        statuses.append(
            ModelStatus(
                model=model,
                version=shown.model_version,
                state=SHOWN_STATE[shown.state],
                job_id=shown.pk,
                badge=" · ".join(b for b in (badge(j.result) for j in done) if b),
                review=review.decision if review else "",
                reviewer=review.reviewer_name if review else "",
                jobs=len(group),
            )
        )
    return statuses


def badge(result: dict) -> str:
    """A short finding badge from a job result: findings first, else segment/measurement counts."""
    if not result:
        return ""
    findings = result.get("findings") or []
    if findings:
        parts = []
        for item in findings[:2]:
            text = f"{item.get('key', '?')}: {item.get('value', '?')}"
            if isinstance(item.get("score"), int | float):
                text += f" ({item['score']:.2f})"
            parts.append(text)
        return ", ".join(parts)
    found = [s for s in result.get("segments") or [] if s.get("voxels")]
    measurements = result.get("measurements") or []
    if found or measurements:
        bits = []
        if found:
            bits.append(f"{len(found)} segment{'s' if len(found) != 1 else ''}")
        if measurements:
            bits.append(f"{len(measurements)} measurement{'s' if len(measurements) != 1 else ''}")
        return ", ".join(bits)
    return "no findings"
