"""What the hub holds, read from the index (Series/Instance rows) for QIDO and WADO.

Only UIDs, Modality, counts and file paths come from here; patient and study attributes are
read from the stored files (:mod:`hub.web.dicomweb.stored`). Each entity carries the path of
one *representative* file: for a study, an instance the hub received (not one of its own
SEG/SR results) when there is one.
All functions are synchronous (Django ORM); call them from sync endpoints or a thread.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Min, Q

if TYPE_CHECKING:
    from django.db.models import QuerySet

#: ``Instance.source`` of the hub's own SEG/SR (hub.storage.models.RESULT_SOURCE; the models
#: are imported inside functions because Django is set up in the app's lifespan).
RESULT_SOURCE = "result"


@dataclass(frozen=True)
class StudyEntry:
    """One study: its series' modalities and counts, and a representative file."""

    study_instance_uid: str
    modalities: tuple[str, ...]
    series_count: int
    instance_count: int
    representative: str


@dataclass(frozen=True)
class SeriesEntry:
    """One series and a representative file (its first stored instance)."""

    study_instance_uid: str
    series_instance_uid: str
    modality: str
    instance_count: int
    representative: str
    hub_result: bool


@dataclass(frozen=True)
class InstanceEntry:
    """One stored instance."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str
    path: str
    source: str


def _fresh_connection() -> None:
    """Drop this thread's database connection if it is broken or past CONN_MAX_AGE.

    Endpoints run in a thread pool outside Django's request cycle, so Django's own
    request-finished cleanup never runs for them.
    """
    from django.db import close_old_connections

    close_old_connections()


def _series_rows(study_uids: list[str], series_uids: list[str] | None = None) -> QuerySet[Any]:
    from hub.storage.models import Series

    _fresh_connection()
    rows = Series.objects.filter(instance_count__gt=0)
    if study_uids:
        rows = rows.filter(study_instance_uid__in=study_uids)
    if series_uids:
        rows = rows.filter(series_instance_uid__in=series_uids)
    return rows.annotate(
        first_own=Min("instances__id", filter=~Q(instances__source=RESULT_SOURCE)),
        first_any=Min("instances__id"),
    )


def _paths(ids: set[int]) -> dict[int, str]:
    from hub.storage.models import Instance

    return dict(Instance.objects.filter(id__in=ids).values_list("id", "path"))


def find_studies(study_uids: list[str], modalities: list[str]) -> list[StudyEntry]:
    """Studies with any of ``study_uids`` (all when empty) holding a series of any of
    ``modalities`` (any when empty); the most recently received first."""
    rows = list(
        _series_rows(study_uids).values(
            "study_instance_uid", "modality", "instance_count", "last_received_at",
            "first_own", "first_any",
        )
    )
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["study_instance_uid"]].append(row)
    wanted = {m.upper() for m in modalities}
    chosen: dict[str, int] = {}
    for study, series in grouped.items():
        own = [row["first_own"] for row in series if row["first_own"] is not None]
        chosen[study] = min(own) if own else min(row["first_any"] for row in series)
    paths = _paths(set(chosen.values()))
    studies = []
    for study, series in sorted(
        grouped.items(), key=lambda item: max(r["last_received_at"] for r in item[1]),
        reverse=True,
    ):
        kinds = tuple(sorted({row["modality"] for row in series if row["modality"]}))
        if wanted and not wanted.intersection(kinds):
            continue
        if chosen[study] not in paths:
            continue
        studies.append(
            StudyEntry(
                study_instance_uid=study,
                modalities=kinds,
                series_count=len(series),
                instance_count=sum(row["instance_count"] for row in series),
                representative=paths[chosen[study]],
            )
        )
    return studies


def find_series(
    study_uids: list[str], series_uids: list[str], modalities: list[str]
) -> list[SeriesEntry]:
    """Series matching the UID lists and modalities (each: any when empty), oldest first."""
    rows = _series_rows(study_uids, series_uids).order_by("first_received_at", "id")
    if modalities:
        rows = rows.filter(modality__in=[m.upper() for m in modalities])
    values = list(
        rows.values(
            "study_instance_uid", "series_instance_uid", "modality", "instance_count",
            "first_own", "first_any",
        )
    )
    paths = _paths({row["first_any"] for row in values if row["first_any"] is not None})
    return [
        SeriesEntry(
            study_instance_uid=row["study_instance_uid"],
            series_instance_uid=row["series_instance_uid"],
            modality=row["modality"],
            instance_count=row["instance_count"],
            representative=paths[row["first_any"]],
            hub_result=row["first_own"] is None,
        )
        for row in values
        if row["first_any"] in paths
    ]


def find_instances(
    study_uids: list[str],
    series_uids: list[str],
    sop_uids: list[str] | None = None,
    sop_classes: list[str] | None = None,
) -> list[InstanceEntry]:
    """Instances matching the UID lists (each: any when empty), in the order received."""
    from hub.storage.models import Instance

    _fresh_connection()
    rows = Instance.objects.filter(series__instance_count__gt=0)
    if study_uids:
        rows = rows.filter(series__study_instance_uid__in=study_uids)
    if series_uids:
        rows = rows.filter(series__series_instance_uid__in=series_uids)
    if sop_uids:
        rows = rows.filter(sop_instance_uid__in=sop_uids)
    if sop_classes:
        rows = rows.filter(sop_class_uid__in=sop_classes)
    values = rows.order_by("series__first_received_at", "series_id", "id").values_list(
        "series__study_instance_uid", "series__series_instance_uid", "sop_instance_uid",
        "sop_class_uid", "transfer_syntax_uid", "series__modality", "path", "source",
    )
    return [InstanceEntry(*row) for row in values]


def instance_by_uid(sop_instance_uid: str) -> InstanceEntry | None:
    """The stored instance with this SOP Instance UID, wherever it is filed."""
    found = find_instances([], [], [sop_instance_uid])
    return found[0] if found else None
