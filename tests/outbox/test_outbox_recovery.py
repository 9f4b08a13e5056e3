"""Nothing is lost: the hand-off guard at job success, the outbox sweep, dead items, the CLI.

These run the job and the delivery in this process (``execute`` / ``deliver``) against real
peers, so each failure can be staged exactly; the worker-level crash test is in
test_outbox_delivery.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from outbox_helpers import items_of, submit

from hub.cli.main import main
from hub.testing.net import free_port


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_job_here(folder, series, **options):
    """Submit and execute the job in this process; returns the reloaded job."""
    from hub.jobs.execution import execute
    from hub.jobs.models import Job

    job = submit(folder, series, **options)
    assert execute(job.pk) == "succeeded"
    return Job.objects.get(pk=job.pk)


def age(model, pk: int, *names: str, seconds: float = 30) -> None:
    """Move timestamps of a row into the past, as if time went by."""
    past = timezone.now() - timedelta(seconds=seconds)
    model.objects.filter(pk=pk).update(**dict.fromkeys(names, past))


def test_handoff_failure_keeps_the_job_succeeded_and_the_sweep_hands_it_off(
    hub_config, storescp, make_series, monkeypatch, caplog
):
    from hub.dimse import outbox
    from hub.dimse.delivery import deliver
    from hub.dimse.models import ResultHandoff
    from hub.jobs.models import Job
    from hub.storage.models import Instance

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])

    def broken(job):
        raise RuntimeError("database went away in the middle of the hand-off")

    monkeypatch.setattr(outbox, "job_succeeded", broken)
    folder, series = make_series()
    with caplog.at_level(logging.ERROR, logger="hub.jobs.execution"):
        job = run_job_here(folder, series)
    assert job.state == "succeeded"
    assert "hand-off to the outbox failed" in caplog.text
    assert not ResultHandoff.objects.filter(job=job).exists() and not items_of(job.pk)
    monkeypatch.undo()

    assert outbox.recover_outbox()["handed_off"] == []  # finished too recently: not yet
    age(Job, job.pk, "finished_at")
    assert outbox.recover_outbox()["handed_off"] == [job.pk]
    assert outbox.recover_outbox()["handed_off"] == []  # once
    (item,) = items_of(job.pk)
    assert ResultHandoff.objects.get(job=job).stored_at is not None
    seg, sr = job.result["seg"]["uid"], job.result["sr"]["uid"]
    assert set(Instance.objects.filter(source="result", sop_instance_uid__in=[seg, sr])
               .values_list("sop_instance_uid", flat=True)) == {seg, sr}
    assert deliver(item.pk) == "sent"
    assert peer.stored() == [("SEG", seg), ("SR", sr)]
    assert deliver(item.pk) == "skipped"  # a duplicate message is harmless


def test_storing_in_the_hub_failing_is_retried_by_the_sweep(hub_config, make_series):
    from hub.dimse import outbox
    from hub.dimse.models import ResultHandoff
    from hub.settings import override_settings, reset_settings
    from hub.storage.models import Instance

    hub_config.configure()
    folder, series = make_series()
    override_settings(storage={"min_free_mb": 10**9})  # below the watermark: store refused
    try:
        job = run_job_here(folder, series, route="")
    finally:
        reset_settings()
    handoff = ResultHandoff.objects.get(job=job)
    assert handoff.stored_at is None and "OutOfSpaceError" in handoff.store_error
    age(ResultHandoff, handoff.pk, "updated_at")
    assert outbox.recover_outbox()["stored"] == [job.pk]
    handoff.refresh_from_db()
    assert handoff.stored_at is not None and handoff.store_error == ""
    assert Instance.objects.filter(
        source="result", sop_instance_uid=job.result["seg"]["uid"]
    ).exists()


def test_peer_removed_from_settings_is_dead_at_once(hub_config, storescp, make_series, capsys):
    from hub.dimse.delivery import deliver

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    hub_config.configure()  # peer and route removed
    assert deliver(item.pk) == "dead"
    item.refresh_from_db()
    assert item.state == "dead" and item.attempts == 1
    assert "peer 'pacs' is not in [[peers]] any more" in item.last_error
    assert peer.stored() == []
    code, out, _ = run(["outbox", "show", str(item.pk)], capsys)
    assert code == 0 and "not in [[peers]]" in out and "[to send]" in out


def test_missing_result_file_is_dead_at_once(hub_config, make_series):
    from pathlib import Path

    from hub.dimse.delivery import deliver

    hub_config.configure(peers={"pacs": free_port()}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    Path(job.result["sr"]["path"]).unlink()
    assert deliver(item.pk) == "dead"
    item.refresh_from_db()
    assert "the SR file of job" in item.last_error and "is gone" in item.last_error


def test_sweep_recovers_stale_sending_items_and_gives_up_after_max_attempts(
    hub_config, make_series
):
    from hub.dimse import outbox
    from hub.dimse.models import OutboxItem

    hub_config.configure(peers={"pacs": free_port()}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    stale = timezone.now() - timedelta(seconds=30)
    OutboxItem.objects.filter(pk=item.pk).update(
        state="sending", attempts=1, lease_owner="gone:1:x", heartbeat_at=stale
    )
    assert outbox.recover_outbox()["stale"] == [item.pk]
    item.refresh_from_db()
    assert item.state == "pending" and item.lease_owner == ""
    assert item.last_error.startswith("worker lost during delivery attempt 1 to pacs (PACS@")
    OutboxItem.objects.filter(pk=item.pk).update(
        state="sending", attempts=3, lease_owner="gone:1:x", heartbeat_at=stale
    )
    assert outbox.recover_outbox()["stale"] == []
    item.refresh_from_db()
    assert item.state == "dead"
    assert item.last_error.startswith("gave up after 3 attempts: worker lost")


def test_sweep_sends_again_overdue_messages_unless_they_still_wait(hub_config, make_series):
    from hub.dimse import outbox
    from hub.dimse.models import OutboxItem
    from hub.jobs.celery_app import embedded_task_ids, is_embedded
    from hub.settings import get_settings

    hub_config.configure(peers={"pacs": free_port()}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    age(OutboxItem, item.pk, "next_attempt_at")
    if is_embedded(get_settings()):  # its message still waits in the broker folder
        assert item.task_id in embedded_task_ids(get_settings())
        assert outbox.recover_outbox()["requeued"] == []
        OutboxItem.objects.filter(pk=item.pk).update(task_id="lost-with-a-killed-worker")
    assert outbox.recover_outbox()["requeued"] == [item.pk]
    item.refresh_from_db()
    assert item.task_id not in ("", "lost-with-a-killed-worker")
    assert item.next_attempt_at > timezone.now() - timedelta(seconds=5)
    assert outbox.recover_outbox()["requeued"] == []  # at most once per lease


def test_backoff_doubles_per_attempt_up_to_the_cap(hub_config):
    from hub.dimse.delivery import backoff_seconds

    hub_config.configure(backoff=10, backoff_max=60)
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_cli_errors_are_one_line_with_a_fix(hub_config, make_series, capsys):
    hub_config.configure(peers={"pacs": free_port()}, send_to=["pacs"])
    code, _, err = run(["outbox", "show", "999999"], capsys)
    assert code == 2 and err.strip() == (
        "error: no outbox item with id 999999 (fix: list items with 'pacs-hub outbox list')"
    )
    code, _, err = run(["outbox", "list", "--state", "lost"], capsys)
    assert code == 2 and "unknown state 'lost'" in err and "(fix: use one of pending," in err
    code, _, err = run(["outbox", "retry"], capsys)
    assert code == 2 and "give either an item id or --all-dead" in err
    code, _, err = run(["outbox", "retry", "1", "--all-dead"], capsys)
    assert code == 2 and "give either an item id or --all-dead" in err
    code, out, _ = run(["outbox", "list"], capsys)
    assert code == 0 and out.strip() == "no outbox items"

    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    code, _, err = run(["outbox", "retry", str(item.pk)], capsys)
    assert code == 2 and f"outbox item {item.pk} is pending" in err and "(fix: " in err


def test_retry_all_dead(hub_config, make_series, capsys):
    from hub.dimse.models import OutboxItem

    hub_config.configure(peers={"pacs": free_port(), "other": free_port()},
                         send_to=["pacs", "other"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    items = items_of(job.pk)
    assert [item.peer_name for item in items] == ["other", "pacs"]
    OutboxItem.objects.filter(job=job).update(state="dead", attempts=3, last_error="x",
                                              confirmed=["1.2.3"])
    code, out, _ = run(["outbox", "retry", "--all-dead"], capsys)
    assert code == 0 and out.strip() == "2 dead outbox item(s) queued again"
    for item in items_of(job.pk):
        assert (item.state, item.attempts, item.confirmed) == ("pending", 0, [])


@pytest.mark.parametrize("route", ["", "gone-route"])
def test_jobs_without_a_known_route_create_no_items(hub_config, make_series, route):
    from hub.dimse.models import ResultHandoff

    hub_config.configure(peers={"pacs": free_port()}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series, route=route)
    assert items_of(job.pk) == []
    assert ResultHandoff.objects.get(job=job).stored_at is not None


def test_cancel_a_pending_item_then_retry_it(hub_config, storescp, make_series, capsys):
    from hub.dimse.delivery import deliver

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    code, out, _ = run(["outbox", "cancel", str(item.pk)], capsys)
    assert code == 0 and out.strip() == f"outbox item {item.pk} cancelled"
    assert deliver(item.pk) == "skipped" and peer.stored() == []
    code, _, err = run(["outbox", "cancel", str(item.pk)], capsys)
    assert code == 2 and "only pending or dead items can be cancelled" in err
    code, out, _ = run(["outbox", "retry", str(item.pk)], capsys)
    assert code == 0
    assert deliver(item.pk) == "sent"
    assert [uid for _, uid in peer.stored()] == [job.result["seg"]["uid"], job.result["sr"]["uid"]]


def test_broker_down_at_hand_off_the_sweep_sends_the_message(
    hub_config, storescp, make_series, monkeypatch
):
    from hub.dimse import outbox
    from hub.dimse.delivery import deliver
    from hub.dimse.models import OutboxItem, ResultHandoff

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])

    def broker_down(item, countdown=None):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(outbox, "enqueue", broker_down)
    folder, series = make_series()
    job = run_job_here(folder, series)
    (item,) = items_of(job.pk)
    assert (item.state, item.task_id) == ("pending", "")
    assert ResultHandoff.objects.get(job=job).stored_at is not None  # the hand-off went on
    monkeypatch.undo()
    assert outbox.recover_outbox()["requeued"] == []  # not overdue yet
    age(OutboxItem, item.pk, "next_attempt_at")
    assert outbox.recover_outbox()["requeued"] == [item.pk]
    item.refresh_from_db()
    assert item.task_id != ""
    assert deliver(item.pk) == "sent" and len(peer.stored()) == 2
