"""Indexing a written file: create or update its :class:`Series`, create its :class:`Instance`.

One transaction per instance. The series row is locked (``select_for_update``) before its
instance is looked up, so concurrent stores into one series queue on it and counts stay exact.

The common case, a new instance of a series that is still receiving, takes two statements
(:func:`_index_new_instance`): an ``UPDATE ... RETURNING`` of the series row (which locks it,
as ``select_for_update`` does) and an ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the
instance, in SQL that SQLite (3.35+) and PostgreSQL share. Anything else (a new series, a
re-sent instance, a complete series, a hub result) rolls that back and takes the ORM path, so
the rules below live in one place.

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

from django.db import IntegrityError, connection, transaction
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
        if source != RESULT_SOURCE:
            fast = _index_new_instance(
                header, path, size, sha256, source, calling_ae, called_ae
            )
            if fast is not None:
                return fast
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


class _NotTheCommonCase(Exception):
    """Rolls the two-statement path back: the ORM path handles this instance."""


def _index_new_instance(
    header: Header,
    path: str,
    size: int,
    sha256: str,
    source: str,
    calling_ae: str,
    called_ae: str,
) -> IndexResult | None:
    """Index a new instance of a receiving series in two statements; None if it is not one.

    Does exactly what :func:`_index` does for that case: the series' last arrival and AE
    titles, its empty descriptive fields filled in, its count (and its late count after a
    completion run) up by one, and the instance row.
    """
    now = timezone.now()
    quote = connection.ops.quote_name
    series_table = quote(Series._meta.db_table)
    received = Series._meta.get_field("last_received_at").get_db_prep_save(now, connection)
    fields = {
        "sop_instance_uid": header.sop_instance_uid,
        "sop_class_uid": header.sop_class_uid,
        "path": path,
        "size": size,
        "sha256": sha256,
        "transfer_syntax_uid": header.transfer_syntax_uid,
        "source": source,
        "received_at": now,
        "ignored_for_routing": False,
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {series_table} SET last_received_at = %s, calling_ae = %s, "
                "called_ae = %s, "
                "modality = CASE WHEN modality = '' THEN %s ELSE modality END, "
                "body_part_examined = CASE WHEN body_part_examined = '' THEN %s "
                "ELSE body_part_examined END, "
                "series_description = CASE WHEN series_description = '' THEN %s "
                "ELSE series_description END, "
                "instance_count = instance_count + 1, "
                "late_instance_count = late_instance_count + "
                "CASE WHEN completion_run > 0 THEN 1 ELSE 0 END "
                f"WHERE series_instance_uid = %s AND state <> %s "
                f"RETURNING {quote(Series._meta.pk.column)}",
                [
                    received, calling_ae, called_ae, header.modality,
                    header.body_part_examined, header.series_description,
                    header.series_instance_uid, Series.State.COMPLETE,
                ],
            )
            row = cursor.fetchone()
            if row is None:
                raise _NotTheCommonCase  # a new series, or a complete one
            series_id = row[0]
            columns, values = _instance_row({**fields, "series_id": series_id})
            cursor.execute(
                f"INSERT INTO {quote(Instance._meta.db_table)} "
                f"({', '.join(map(quote, columns))}) VALUES ({', '.join(['%s'] * len(values))}) "
                "ON CONFLICT (sop_instance_uid) DO NOTHING "
                f"RETURNING {quote(Instance._meta.pk.column)}",
                values,
            )
            inserted = cursor.fetchone()
            if inserted is None:
                raise _NotTheCommonCase  # a re-sent instance
    except _NotTheCommonCase:
        return None
    instance = Instance(id=inserted[0], series_id=series_id, **fields)
    return IndexResult(instance, duplicate=False, replaced_path="")


def _instance_row(values: dict[str, object]) -> tuple[list[str], list[object]]:
    """Columns and database values of a new :class:`Instance` (defaults for the rest)."""
    columns: list[str] = []
    prepared: list[object] = []
    for field in Instance._meta.concrete_fields:
        if field.primary_key:
            continue
        value = values[field.attname] if field.attname in values else field.get_default()
        columns.append(field.column)
        prepared.append(field.get_db_prep_save(value, connection))
    return columns, prepared


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
