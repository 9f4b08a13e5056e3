"""A job's results go to the ``send_to`` of its route and of each of its ``also_routes``: one
outbox item per distinct peer, in order; end to end, two routes with ``continue`` deliver one
job's SEG and SR to two real peers, once each."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from outbox_helpers import items_of, submit, wait_item, wait_job

from hub.testing.net import free_port

ALL_CT = {"name": "all-ct", "match": {"Modality": "CT"}, "models": ["bright-test"],
          "send_to": ["archive", "research"], "continue": True}
CHEST_CT = {"name": "chest-ct", "match": {"Modality": "CT", "BodyPartExamined": "CHEST"},
            "models": ["bright-test"], "send_to": ["chest-pacs", "archive"],
            "priority": "urgent"}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ids of the outbox items whose delivery message would have been sent."""
    from hub.dimse import outbox

    sent: list[int] = []
    monkeypatch.setattr(outbox, "enqueue", lambda item, countdown=None: sent.append(item.pk))
    return sent


def test_one_item_per_distinct_peer_of_the_route_and_its_also_routes_in_order(
    hub_config, make_series, recorded, caplog
):
    from hub.dimse import outbox
    from hub.jobs.execution import execute
    from hub.jobs.models import Job

    ports = {name: free_port() for name in ("archive", "research", "chest-pacs", "other")}
    hub_config.configure(peers=ports, send_to=["other"], routes=[ALL_CT, CHEST_CT])
    folder, series = make_series()
    job = submit(folder, series, route="all-ct", also_routes=["gone", "chest-ct", "all-ct"])
    assert job.also_routes == ["gone", "chest-ct", "all-ct"]
    with caplog.at_level(logging.WARNING, logger="hub.dimse.outbox"):
        assert execute(job.pk) == "succeeded"  # hands off: items created, messages recorded
    items = sorted(items_of(job.pk), key=lambda item: item.pk)
    assert [item.peer_name for item in items] == ["archive", "research", "chest-pacs"]
    assert recorded == [item.pk for item in items]
    assert all(item.state == "pending" and len(item.files) == 2 for item in items)
    assert "route 'gone' is no longer configured; its send_to is skipped" in caplog.text

    assert outbox.job_succeeded(Job.objects.get(pk=job.pk)) == []  # idempotent
    assert len(items_of(job.pk)) == 3


def test_an_admin_submit_with_one_route_keeps_that_route_only(hub_config, make_series, recorded):
    from hub.jobs.execution import execute

    ports = {name: free_port() for name in ("archive", "research", "chest-pacs")}
    hub_config.configure(peers=ports, routes=[ALL_CT, CHEST_CT])
    folder, series = make_series()
    job = submit(folder, series, route="chest-ct", trigger="manual")
    assert job.also_routes == []
    assert execute(job.pk) == "succeeded"
    assert [item.peer_name for item in sorted(items_of(job.pk), key=lambda i: i.pk)] == [
        "chest-pacs", "archive",
    ]


def test_two_continue_routes_deliver_one_job_to_both_peers_once(
    hub_config, storescp, start_worker, make_series, index_tables
):
    from hub.jobs.models import Job
    from hub.routing.completion import force_complete
    from hub.routing.models import RoutingDecision
    from hub.storage.store import store_instance

    archive, chest = storescp(), storescp()
    routes: list[dict[str, Any]] = [
        {**ALL_CT, "send_to": ["archive"]},
        {**CHEST_CT, "send_to": ["chest-pacs"]},
    ]
    hub_config.configure(peers={"archive": archive.port, "chest-pacs": chest.port},
                         routes=routes)
    start_worker()
    folder, series = make_series()
    for path in sorted(folder.iterdir()):
        store_instance(path.read_bytes(), calling_ae="CT01", called_ae="HUBTEST")
    done = force_complete(series.series_instance_uid)

    [job_id] = done.job_ids
    job = wait_job(job_id)
    assert (job.route, job.also_routes) == ("all-ct", ["chest-ct"])
    assert Job.objects.filter(series_instance_uid=series.series_instance_uid).count() == 1
    wait_item(job.pk, peer="archive")
    wait_item(job.pk, peer="chest-pacs")
    seg, sr = job.result["seg"]["uid"], job.result["sr"]["uid"]
    assert archive.stored() == [("SEG", seg), ("SR", sr)]
    assert chest.stored() == [("SEG", seg), ("SR", sr)]
    assert [item.peer_name for item in items_of(job.pk)] == ["archive", "chest-pacs"]
    reasons = list(RoutingDecision.objects.filter(job_id=job.pk).values_list("reason", flat=True))
    assert (
        "model bright-test already chosen by route all-ct; its results also go to route "
        f"chest-ct's send_to: job {job.pk}"
    ) in reasons
