"""The index's two-statement path for a new instance of a receiving series, and the ORM path
it hands everything else to: the same rows either way (SQLite here, PostgreSQL in
``make test-scaleout``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub.storage.header import Header

pytestmark = pytest.mark.usefixtures("index_tables")

SERIES = "1.2.826.0.1.3680043.10.1077.7"
STUDY = "1.2.826.0.1.3680043.10.1077.1"


def header(number: int, **fields: str) -> Header:
    values = {
        "study_instance_uid": STUDY, "series_instance_uid": SERIES,
        "sop_instance_uid": f"{SERIES}.{number}", "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "transfer_syntax_uid": "1.2.840.10008.1.2.1", "modality": "CT",
        "body_part_examined": "CHEST", "series_description": "Thorax",
    }
    values.update(fields)
    return Header(**values)


def index(number: int, *, calling: str = "CT01", source: str = "scp", **fields: str):  # noqa: ANN201
    from hub.storage.index import index_instance

    return index_instance(
        header(number, **fields), path=f"instances/{STUDY}/{SERIES}/{number}.dcm",
        size=100 + number, sha256="ab" * 32, source=source, calling_ae=calling,
        called_ae="PACSHUB",
    )


def statements(context: CaptureQueriesContext) -> list[str]:
    """The SQL verbs run, without transaction control."""
    verbs = [query["sql"].split(None, 1)[0].upper() for query in context.captured_queries]
    return [verb for verb in verbs if verb not in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT")]


def test_a_new_instance_of_a_receiving_series_takes_two_statements():
    from hub.storage.models import Instance, Series

    index(1, modality="", body_part_examined="", series_description="")  # creates the series
    with CaptureQueriesContext(connection) as context:
        result = index(2, calling="CT02")
    assert statements(context) == ["UPDATE", "INSERT"]
    assert not result.duplicate and result.instance.pk is not None
    series = Series.objects.get()
    assert series.instance_count == 2 and series.late_instance_count == 0
    assert series.calling_ae == "CT02"  # the latest association's caller, as the ORM path does
    # empty descriptive fields are filled from a later instance, never overwritten
    assert (series.modality, series.body_part_examined, series.series_description) == (
        "CT", "CHEST", "Thorax",
    )
    stored = Instance.objects.get(sop_instance_uid=f"{SERIES}.2")
    assert (stored.series_id, stored.size, stored.source, stored.ignored_for_routing) == (
        series.pk, 102, "scp", False,
    )
    assert stored.received_at == series.last_received_at
    index(3, modality="MR", series_description="other")
    series.refresh_from_db()
    assert (series.modality, series.series_description, series.instance_count) == (
        "CT", "Thorax", 3,
    )


def test_a_resent_instance_falls_back_and_counts_once():
    from hub.storage.models import Instance, Series

    index(1)
    index(2)
    again = index(2)
    assert again.duplicate
    assert Series.objects.get().instance_count == 2 and Instance.objects.count() == 2


def test_after_a_completion_run_late_instances_are_counted_on_both_paths():
    from hub.settings import override_settings
    from hub.storage.models import Series

    override_settings(dicom={"late_instances": "rerun"})
    index(1)
    Series.objects.update(state=Series.State.COMPLETE, completion_run=1)
    index(2)  # complete: the ORM path re-opens the series
    series = Series.objects.get()
    assert series.state == Series.State.RECEIVING and series.late_instance_count == 1
    with CaptureQueriesContext(connection) as context:
        index(3)  # receiving again: the two-statement path, still counted as late
    assert statements(context) == ["UPDATE", "INSERT"]
    series.refresh_from_db()
    assert series.late_instance_count == 2 and series.instance_count == 3


def test_hub_results_take_the_orm_path():
    from hub.storage.models import RESULT_SOURCE, Series

    index(1)
    with CaptureQueriesContext(connection) as context:
        index(2, source=RESULT_SOURCE)
    assert "SELECT" in statements(context)
    assert Series.objects.get().hub_results
