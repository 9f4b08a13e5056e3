"""Results out: real workers run routed jobs and deliver SEG then SR to real peers.

Peers are dcmtk ``storescp`` (files named by SOP Instance UID, so a re-sent instance replaces
its copy) and a pynetdicom peer answering scripted statuses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
from outbox_helpers import items_of, submit, wait_item, wait_job, wait_stored

from hub.cli.main import main
from hub.settings import get_settings
from hub.testing.net import free_port


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def result_uids(job) -> tuple[str, str]:
    return job.result["seg"]["uid"], job.result["sr"]["uid"]


def test_results_reach_the_peer_seg_before_sr_and_are_stored_in_the_hub(
    hub_config, storescp, start_worker, make_series
):
    from hub.storage.models import Instance

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series).pk)
    item = wait_item(job.pk)
    seg, sr = result_uids(job)

    assert peer.stored() == [("SEG", seg), ("SR", sr)]  # SEG first, each once
    assert peer.files() == {seg: "SEG", sr: "SR"}
    assert item.attempts == 1 and item.confirmed == [seg, sr] and item.sent_at is not None
    assert item.sop_instance_uids == [seg, sr]
    assert (item.ae_title, item.host, item.port) == ("PACS", "127.0.0.1", peer.port)
    job.refresh_from_db()
    assert 0 < job.timings["send"] == item.seconds
    assert {"load", "inference", "write", "total"} <= set(job.timings)  # merged, not replaced

    handoff = wait_stored(job.pk)
    assert handoff.stored_uids == [seg, sr]
    for uid, path in ((seg, job.result["seg"]["path"]), (sr, job.result["sr"]["path"])):
        row = Instance.objects.get(sop_instance_uid=uid)
        assert row.source == "result"
        assert row.series.study_instance_uid == series.study_instance_uid
        assert Path(path).is_file(), "the job keeps its own files"
        stored = pydicom.dcmread(get_settings().data_dir.resolve() / row.path)
        assert stored.SOPInstanceUID == uid


def test_forced_rerun_sends_the_same_uids_and_the_peer_keeps_one_copy(
    hub_config, storescp, start_worker, make_series
):
    from hub.storage.models import Instance

    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    start_worker()
    folder, series = make_series()
    first = wait_job(submit(folder, series).pk)
    wait_item(first.pk)
    assert submit(folder, series).pk == first.pk  # routed again: nothing new
    second = wait_job(submit(folder, series, force=True).pk)
    assert second.pk != first.pk and second.run == 2
    wait_item(second.pk)
    seg, sr = result_uids(first)
    assert result_uids(second) == (seg, sr)
    assert peer.stored() == [("SEG", seg), ("SR", sr), ("SEG", seg), ("SR", sr)]
    assert peer.files() == {seg: "SEG", sr: "SR"}  # one copy of each
    assert Instance.objects.filter(sop_instance_uid__in=[seg, sr], source="result").count() == 2
    assert len(items_of(first.pk)) == len(items_of(second.pk)) == 1


def test_no_route_or_no_send_to_keeps_results_in_the_hub(hub_config, start_worker, make_series):
    from hub.dimse.models import OutboxItem
    from hub.storage.models import Instance

    hub_config.configure(peers={"pacs": free_port()}, send_to=[])
    start_worker()
    jobs = []
    for route in ("to-pacs", ""):
        folder, series = make_series()
        jobs.append(wait_job(submit(folder, series, route=route).pk))
    for job in jobs:
        wait_stored(job.pk)
        assert Instance.objects.filter(
            sop_instance_uid__in=result_uids(job), source="result"
        ).count() == 2
    assert not OutboxItem.objects.filter(job__in=jobs).exists()


def test_peer_down_retries_with_backoff_then_dead_then_retry_sends(
    hub_config, storescp, start_worker, make_series, capsys
):
    port = free_port()
    hub_config.configure(peers={"pacs": port}, send_to=["pacs"])
    worker = start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series).pk)
    item = wait_item(job.pk, ("dead",))
    assert item.attempts == 3
    assert item.last_error.startswith(
        f"gave up after 3 attempts: peer pacs (PACS@127.0.0.1:{port}): connection refused"
    )
    log = worker.log.read_text()
    delays = re.findall(rf"outbox item {item.pk} .*attempt (\d) of 3 failed, retry in ([0-9.]+) s",
                        log)
    assert delays == [("1", "0.3"), ("2", "0.5")]  # 0.3, then 0.6 capped at backoff_max

    code, out, _ = run(["outbox", "list", "--state", "dead", "--json"], capsys)
    assert code == 0
    listed = json.loads(out)
    assert [(entry["id"], entry["job"], entry["state"]) for entry in listed] == [
        (item.pk, job.pk, "dead")
    ]
    assert "connection refused" in listed[0]["last_error"]
    code, out, _ = run(["outbox", "list", "--state", "dead"], capsys)
    assert f"{item.pk}" in out and "dead" in out and "pacs" in out

    peer = storescp(port)
    code, out, _ = run(["outbox", "retry", str(item.pk)], capsys)
    assert code == 0 and f"outbox item {item.pk} queued again for pacs" in out
    item = wait_item(job.pk)
    assert item.attempts == 1 and item.last_error == ""
    seg, sr = result_uids(job)
    assert peer.stored() == [("SEG", seg), ("SR", sr)]
    code, out, _ = run(["outbox", "show", str(item.pk)], capsys)
    assert code == 0 and "sent" in out and f"SEG             : {seg} [confirmed]" in out


def test_failure_status_is_retried_then_dead_and_the_sr_never_precedes_its_seg(
    hub_config, scripted_peer, start_worker, make_series
):
    peer = scripted_peer(lambda modality, seen: 0xA700)  # out of resources, always
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series).pk)
    item = wait_item(job.pk, ("dead",))
    seg, _ = result_uids(job)
    assert item.attempts == 3 and item.confirmed == []
    assert "status 0xA700" in item.last_error and seg in item.last_error
    assert item.last_error.startswith("gave up after 3 attempts: peer pacs (PACS@127.0.0.1:")
    assert peer.received == [("SEG", seg, 0xA700)] * 3  # the SR waits for its SEG


def test_a_retried_delivery_sends_only_what_was_not_confirmed(
    hub_config, scripted_peer, start_worker, make_series
):
    def answer(modality: str, seen: int) -> int:
        return 0xA700 if modality == "SR" and seen == 0 else 0

    peer = scripted_peer(answer)
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series).pk)
    item = wait_item(job.pk)
    seg, sr = result_uids(job)
    assert item.attempts == 2
    assert [(m, status) for m, _, status in peer.received] == [
        ("SEG", 0), ("SR", 0xA700), ("SR", 0)
    ]
    assert peer.stored() == {seg: 1, sr: 1}


def test_worker_killed_mid_delivery_the_sweep_delivers_it(
    hub_config, scripted_peer, start_worker, make_series
):
    def answer(modality: str, seen: int) -> object:
        return (8.0, 0) if seen == 0 and modality == "SEG" else 0  # the first SEG stalls

    peer = scripted_peer(answer)
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"], timeout=20)
    first = start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series).pk)
    wait_item(job.pk, ("sending",))
    first.kill()  # SIGKILL mid-delivery: the item stays "sending" with its lease
    second = start_worker()
    item = wait_item(job.pk, timeout=60)
    assert item.attempts == 2
    assert "worker lost during delivery attempt 1" in second.log.read_text()
    seg, sr = result_uids(job)
    assert peer.stored().get(sr) == 1 and peer.stored().get(seg) in (1, 2)


def test_worker_killed_mid_job_one_seg_one_sr_one_delivery(
    hub_config, storescp, start_worker, make_series
):
    """Issue 4's crash rule end to end: the worker running a routed job is SIGKILLed; the
    other worker finishes the job, and the peer receives exactly one SEG and one SR through
    exactly one outbox delivery."""
    peer = storescp()
    hub_config.configure(peers={"pacs": peer.port}, send_to=["pacs"])
    first, second = start_worker(), start_worker()
    folder, series = make_series()
    job = wait_job(submit(folder, series, "slow-test").pk, ("running",), timeout=20)
    pid = int(job.lease_owner.split(":")[1])
    victim = first if first.owns(pid) else second
    assert victim.owns(pid)
    victim.kill()
    job = wait_job(job.pk, timeout=60)
    assert job.attempts == 2
    item = wait_item(job.pk)
    assert item.state == "sent" and len(items_of(job.pk)) == 1
    seg, sr = result_uids(job)
    assert peer.stored() == [("SEG", seg), ("SR", sr)]
    assert peer.files() == {seg: "SEG", sr: "SR"}
    assert sorted(p.name for p in Path(job.output_dir).iterdir()) == sorted(
        p.name for p in Path(job.output_dir).glob("*.dcm")
    )
