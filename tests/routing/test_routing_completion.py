"""Series completion on a real database: quiet period, release + grace, force, late instances,
hub results, jobs with their route and priority, exactly-once under concurrent sweeps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from pydicom import dcmread
from pydicom.uid import generate_uid
from routing_helpers import routes

from hub.routing import completion
from hub.routing.completion import association_released, complete_due_series, force_complete
from hub.routing.facts import RoutingError
from hub.settings import get_settings, override_settings

pytestmark = pytest.mark.usefixtures("hub_db")


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def series(uid: str):
    from hub.storage.models import Series

    return Series.objects.get(series_instance_uid=uid)


def jobs(uid: str) -> list:
    from hub.jobs.models import Job

    return list(Job.objects.filter(series_instance_uid=uid).order_by("id"))


def decisions(uid: str) -> list:
    from hub.routing.models import RoutingDecision

    return list(RoutingDecision.objects.filter(series__series_instance_uid=uid))


def add_instance(uid: str, **attributes: object) -> None:
    """Store one more (new) instance into series ``uid``, from the CT01 modality."""
    from hub.storage import files
    from hub.storage.store import store_instance

    first = series(uid).instances.order_by("id").first()
    ds = dcmread(files.data_dir() / first.path)
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    store_instance(ds, calling_ae="CT01", called_ae="PACSHUB")


def test_a_series_completes_after_the_quiet_period(store_series, sent):
    uid = store_series(slices=8)
    assert complete_due_series() == []
    assert series(uid).state == "receiving"
    done = complete_due_series(now=later(get_settings().series_quiet_seconds + 1))
    assert [(d.series_instance_uid, d.run, d.reason) for d in done] == [(uid, 1, "quiet")]
    stored = series(uid)
    assert stored.state == "complete" and stored.completion_reason == "quiet"
    assert stored.completion_run == 1 and stored.completed_at is not None
    [job] = jobs(uid)
    assert done[0].job_ids == [job.pk] and sent == [job.pk]
    assert (job.model_name, job.trigger, job.route, job.priority) == ("ct-lung-seg", "route", "", 5)
    folder = get_settings().data_dir.resolve() / "instances" / stored.study_instance_uid / uid
    assert job.source_paths == [str(folder)]
    outcomes = [(d.outcome, d.model_name) for d in decisions(uid)]
    assert outcomes[:3] == [("completed", ""), ("matched", ""), ("submitted", "ct-lung-seg")]
    assert ("skipped", "mr-brain-extract") in outcomes
    assert decisions(uid)[0].reason == "completed run 1: quiet period passed"
    assert decisions(uid)[2].job_id == job.pk


def test_a_released_association_completes_its_series_after_the_grace_period(store_series):
    override_settings(dicom={"release_grace_seconds": 2})
    uid = store_series()
    assert association_released({uid, ""}) == 1
    assert complete_due_series(now=later(1)) == []
    [done] = complete_due_series(now=later(3))
    assert done.reason == "released" and series(uid).released_at is not None
    assert association_released(set()) == 0
    assert association_released({uid}) == 0  # complete series are left alone


def test_an_instance_after_the_release_defers_completion_to_the_quiet_period(store_series):
    override_settings(dicom={"release_grace_seconds": 2}, series_quiet_seconds=10)
    uid = store_series()
    association_released({uid})
    add_instance(uid)  # a second association goes on sending
    assert complete_due_series(now=later(3)) == []
    [done] = complete_due_series(now=later(11))
    assert done.reason == "quiet"


def test_an_admin_can_force_completion(store_series):
    uid = store_series()
    done = force_complete(uid)
    assert done.reason == "forced" and series(uid).completion_reason == "forced"
    assert len(jobs(uid)) == 1
    with pytest.raises(RoutingError, match="already complete"):
        force_complete(uid)
    with pytest.raises(RoutingError, match="no series 1.2.3.999 in the index"):
        force_complete("1.2.3.999")


def test_jobs_carry_the_route_and_its_priority(store_series):
    routes(
        {"name": "ct-chest", "match": {"Modality": "CT", "calling_ae": "CT0[1-9]"},
         "models": ["ct-lung-seg", "not-there"], "priority": "urgent"},
    )
    uid = store_series(calling_ae="CT02")
    other = store_series(calling_ae="CT10")
    complete_due_series(now=later(60))
    [job] = jobs(uid)
    assert (job.trigger, job.route, job.priority) == ("route", "ct-chest", 9)
    reasons = [d.reason for d in decisions(uid)]
    assert "route ct-chest matched: Modality=CT, calling_ae=CT02" in reasons
    assert "model not-there not installed" in reasons
    assert jobs(other) == []
    assert decisions(other)[-1].outcome == "not_routed"
    assert series(other).state == "complete"


CONTINUED = [
    {"name": "all-ct", "match": {"Modality": "CT"}, "models": ["ct-lung-seg"],
     "send_to": ["archive"], "continue": True},
    {"name": "chest-ct", "match": {"BodyPartExamined": "CHEST"}, "models": ["ct-lung-seg"],
     "send_to": ["chest-pacs"], "priority": "urgent"},
]
PEERS = [{"name": name, "ae_title": "PACS", "host": "127.0.0.1", "port": 104}
         for name in ("archive", "chest-pacs")]


def test_a_model_two_routes_chose_runs_once_with_both_routes(store_series, sent):
    routes(*CONTINUED, peers=PEERS)
    uid = store_series(body_part="CHEST")
    force_complete(uid)
    [job] = jobs(uid)
    assert sent == [job.pk]
    assert (job.route, job.also_routes, job.priority) == ("all-ct", ["chest-ct"], 5)
    [also] = [d for d in decisions(uid) if d.route == "chest-ct" and d.model_name]
    assert (also.outcome, also.job_id) == ("skipped", job.pk)
    assert also.reason == (
        "model ct-lung-seg already chosen by route all-ct; its results also go to route "
        f"chest-ct's send_to: job {job.pk}"
    )


def test_a_job_that_existed_before_routing_keeps_its_routes(store_series, sent):
    from hub.jobs.models import Job
    from hub.jobs.services import submit_job

    routes(*CONTINUED, peers=PEERS)
    uid = store_series(body_part="CHEST")
    stored = series(uid)
    earlier = submit_job(uid, stored.study_instance_uid, "ct-lung-seg", [],
                         trigger=Job.Trigger.REST)
    force_complete(uid)
    assert [job.pk for job in jobs(uid)] == [earlier.pk] and earlier.also_routes == []
    [also] = [d for d in decisions(uid) if d.route == "chest-ct" and d.model_name]
    assert also.job_id == earlier.pk
    assert also.reason == (
        f"model ct-lung-seg already chosen; job {earlier.pk} already existed without route "
        "chest-ct, so its results do not go to that route's send_to"
    )


def test_completing_again_without_new_instances_runs_nothing(store_series):
    from hub.storage import files
    from hub.storage.store import store_instance

    uid = store_series()
    complete_due_series(now=later(60))
    assert complete_due_series(now=later(120)) == []
    first = series(uid).instances.order_by("id").first()
    again = store_instance((files.data_dir() / first.path).read_bytes(), calling_ae="CT01")
    assert again.duplicate
    stored = series(uid)
    assert stored.state == "complete" and stored.late_instance_count == 0
    assert complete_due_series(now=later(120)) == []
    assert len(jobs(uid)) == 1


def test_a_late_instance_starts_a_new_marked_run(store_series, sent):
    uid = store_series()
    complete_due_series(now=later(60))
    add_instance(uid)
    stored = series(uid)
    assert stored.state == "receiving" and stored.late_instance_count == 1
    [done] = complete_due_series(now=later(60))
    assert done.run == 2
    first, second = jobs(uid)
    assert (first.run, second.run) == (1, 2) and second.model_name == "ct-lung-seg"
    assert sent == [first.pk, second.pk]
    run2 = [d for d in decisions(uid) if d.run == 2]
    assert run2[0].reason.startswith("completed run 2: quiet period passed; re-run for 1 late")
    assert any(d.job_id == second.pk and d.outcome == "submitted" for d in run2)


def test_late_instances_can_be_ignored(store_series):
    from hub.routing.summary import series_detail

    override_settings(dicom={"late_instances": "ignore"})
    uid = store_series()
    complete_due_series(now=later(60))
    add_instance(uid)
    stored = series(uid)
    assert stored.state == "complete" and stored.late_instance_count == 1
    assert stored.instances.filter(ignored_for_routing=True).count() == 1
    assert complete_due_series(now=later(120)) == []
    assert len(jobs(uid)) == 1
    assert series_detail(stored)["ignored_instances"] == 1


def test_results_written_by_the_hub_are_never_routed(store_series):
    uid = store_series(source="result")
    [done] = complete_due_series()  # at once, no quiet period
    assert done.reason == "result" and done.job_ids == []
    assert series(uid).hub_results
    last = decisions(uid)[-1]
    assert last.outcome == "not_routed" and "results written by the hub" in last.reason
    assert jobs(uid) == []


def test_an_unreadable_series_completes_with_an_error_decision(store_series):
    from hub.storage import files

    uid = store_series()
    for instance in series(uid).instances.all():
        (files.data_dir() / instance.path).write_bytes(b"garbage")
    [done] = complete_due_series(now=later(60))
    assert done.job_ids == []
    last = decisions(uid)[-1]
    assert last.outcome == "error" and "is not readable" in last.reason


def test_a_failure_after_the_claim_leaves_the_series_pending_and_sends_nothing(
    store_series, sent, monkeypatch
):
    from hub.jobs import services

    uid = store_series()
    real = services.submit_job

    def submit_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the process died here")

    monkeypatch.setattr(services, "submit_job", submit_then_fail)
    assert complete_due_series(now=later(60)) == []
    assert series(uid).state == "receiving" and series(uid).completion_run == 0
    assert jobs(uid) == [] and decisions(uid) == [] and sent == []
    monkeypatch.setattr(services, "submit_job", real)
    [done] = complete_due_series(now=later(60))
    assert done.run == 1 and sent == done.job_ids


def test_concurrent_sweeps_route_each_series_once(store_series, monkeypatch):
    uids = [store_series() for _ in range(4)]
    barrier = threading.Barrier(2, timeout=20)
    real_plan = completion._plan

    def plan_in_step(series):  # both sweeps plan each series, then both try to claim it
        plan = real_plan(series)
        barrier.wait()
        return plan

    monkeypatch.setattr(completion, "_plan", plan_in_step)
    results: list[list] = []
    errors: list[BaseException] = []
    when = later(60)

    def sweep() -> None:
        try:
            results.append(complete_due_series(now=when))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    completed = sorted(d.series_instance_uid for found in results for d in found)
    assert completed == sorted(uids)
    for uid in uids:
        assert len(jobs(uid)) == 1
        assert [d.outcome for d in decisions(uid)].count("completed") == 1


def test_a_claim_based_on_a_stale_view_does_nothing(store_series):
    uid = store_series()
    stale = series(uid).last_received_at
    add_instance(uid)
    assert completion._complete(series(uid).pk, "quiet", stale) is None
    assert series(uid).state == "receiving" and decisions(uid) == []
