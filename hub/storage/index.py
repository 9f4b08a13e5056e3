"""Indexing a written file: create or update its :class:`Series`, create its :class:`Instance`.

One transaction per instance. The series row is locked (``select_for_update``) before its
instance is looked up, so concurrent stores into one series queue on it and counts stay exact.

Late instances: a *new* instance (not a re-sent SOP Instance UID) stored into a ``complete``
series re-opens it for its next completion run when ``[dicom] late_instances = "rerun"``, or
is marked :attr:`~hub.storage.models.Instance.ignored_for_routing` when ``"ignore"``. Because
the series row is locked here and completion claims it with a conditional ``UPDATE``, an
instance is either part of the run that completes or re-opens the series afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hub.settings import get_settings
from hub.storage.header import Header
from hub.storage.models import RESULT_SOURCE, Instance, Series

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexResult:
    """The outcome of :func:`index_instance`."""

    instance: Instance
    duplicate: bool
    #: The earlier file of a duplicate that now lives elsewhere (moved series); to delete.
    replaced_path: str


def index_instance(
    header: Header,
    *,
    path: str,
    size: int,
    sha256: str,
    source: str,
    calling_ae: str,
    called_ae: str,
) -> IndexResult:
    """Record one stored file; retried once when a concurrent first insert wins the race."""
    try:
        return _index(header, path, size, sha256, source, calling_ae, called_ae)
    except IntegrityError:
        log.debug("concurrent insert of series/instance, retrying once")
        return _index(header, path, size, sha256, source, calling_ae, called_ae)


def _index(
    header: Header,
    path: str,
    size: int,
    sha256: str,
    source: str,
    calling_ae: str,
    called_ae: str,
) -> IndexResult:
    now = timezone.now()
    with transaction.atomic():
        series = _locked_series(header, now, calling_ae, called_ae)
        existing = (
            Instance.objects.select_for_update()
            .filter(sop_instance_uid=header.sop_instance_uid)
            .first()
        )
        fields = {
            "sop_class_uid": header.sop_class_uid,
            "path": path,
            "size": size,
            "sha256": sha256,
            "transfer_syntax_uid": header.transfer_syntax_uid,
            "source": source,
            "received_at": now,
        }
        if existing is None:
            fields["ignored_for_routing"] = _arrive(series, source)
            instance = Instance.objects.create(
                sop_instance_uid=header.sop_instance_uid, series=series, **fields
            )
            _count(series.pk, +1)
            return IndexResult(instance, duplicate=False, replaced_path="")
        replaced = existing.path if existing.path != path else ""
        if existing.series_id != series.pk:
            fields["ignored_for_routing"] = _arrive(series, source)
            _count(existing.series_id, -1)
            _count(series.pk, +1)
            existing.series = series
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return IndexResult(existing, duplicate=True, replaced_path=replaced)


def _locked_series(header: Header, now: datetime, calling_ae: str, called_ae: str) -> Series:
    series, created = Series.objects.get_or_create(
        series_instance_uid=header.series_instance_uid,
        defaults={
            "study_instance_uid": header.study_instance_uid,
            "modality": header.modality,
            "body_part_examined": header.body_part_examined,
            "series_description": header.series_description,
            "calling_ae": calling_ae,
            "called_ae": called_ae,
            "first_received_at": now,
            "last_received_at": now,
        },
    )
    series = Series.objects.select_for_update().get(pk=series.pk)
    if not created:
        series.last_received_at = now
        series.calling_ae = calling_ae
        series.called_ae = called_ae
        for name in ("modality", "body_part_examined", "series_description"):
            if not getattr(series, name):
                setattr(series, name, getattr(header, name))
        series.save(
            update_fields=[
                "last_received_at",
                "calling_ae",
                "called_ae",
                "modality",
                "body_part_examined",
                "series_description",
            ]
        )
    return series


def _arrive(series: Series, source: str) -> bool:
    """Update the locked ``series`` for a new instance; True when it is ignored for routing."""
    changed: list[str] = []
    ignored = False
    if source == RESULT_SOURCE and not series.hub_results:
        series.hub_results = True
        changed.append("hub_results")
    if series.completion_run:
        series.late_instance_count += 1
        changed.append("late_instance_count")
    if series.state == Series.State.COMPLETE:
        if get_settings().dicom.late_instances == "rerun":
            series.state = Series.State.RECEIVING
            changed.append("state")
            log.info(
                "series %s: late instance after completion run %d; re-opened for run %d",
                series.series_instance_uid,
                series.completion_run,
                series.completion_run + 1,
            )
        else:
            ignored = True
            log.info(
                "series %s: late instance after completion run %d ignored for routing "
                "(late_instances = ignore)",
                series.series_instance_uid,
                series.completion_run,
            )
    if changed:
        series.save(update_fields=changed)
    return ignored


def _count(series_pk: int, delta: int) -> None:
    Series.objects.filter(pk=series_pk).update(instance_count=F("instance_count") + delta)
