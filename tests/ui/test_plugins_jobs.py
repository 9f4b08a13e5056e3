"""Plugins (listing, manifests, findings, statistics, enable/disable honoured by submit_job)
and jobs (list, filters, detail with timings and errors, retry, cancel)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import Study, add_job, csrf_token, store_study


def test_plugins_page_lists_models_manifests_and_stats(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    add_job(study, "failed")
    page = client_for("ml-engineer").get("/plugins/").content.decode()
    for name in ("ct-lung-seg", "mr-brain-extract", "us-burned-in-text"):
        assert f'id="model-{name}"' in page, name
    row = page.split('id="model-ct-lung-seg"', 1)[1].split("</tr>", 1)[0]
    cells = [c.strip() for c in row.split("<td")[1:]]
    assert any("50 %" in c for c in cells), cells  # 1 succeeded, 1 failed
    assert any("0.80 s" in c for c in cells), cells  # p50 of the succeeded job's total
    assert "SHA-256" in page and "Modalities" in page and "enabled" in page


def test_disable_is_refused_for_a_radiologist(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    from hub.jobs.toggles import is_disabled

    client = client_for("radiologist")
    answer = client.post("/plugins/toggle/", {"model": "ct-lung-seg", "enabled": "0",
                                              "csrfmiddlewaretoken": csrf_token(client)})
    assert answer.status_code == 403
    assert not is_disabled("ct-lung-seg")


def test_disable_by_admin_is_honoured_by_submit_job(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    from hub.jobs.services import submit_job
    from hub.jobs.toggles import ModelDisabledError, is_disabled
    from hub.web.ui.models import AuditEvent

    client = client_for("admin")
    token = csrf_token(client)
    answer = client.post("/plugins/toggle/", {"model": "ct-lung-seg", "enabled": "0",
                                              "reason": "recalibrating",
                                              "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and is_disabled("ct-lung-seg")
    event = AuditEvent.objects.get(action="model_disabled")
    assert (event.target, event.detail, event.username) == ("ct-lung-seg", "recalibrating", "admin")
    page = client.get("/plugins/").content.decode()
    assert "switched off" in page and "recalibrating" in page and ">Enable<" in page
    with pytest.raises(ModelDisabledError) as refused:
        submit_job(study.series_uid, study.study_uid, "ct-lung-seg", ["/nonexistent"],
                   force=True)
    assert "disabled by admin (recalibrating)" in refused.value.cause
    assert "/plugins/" in refused.value.fix

    client.post("/plugins/toggle/", {"model": "ct-lung-seg", "enabled": "1",
                                     "csrfmiddlewaretoken": token})
    assert not is_disabled("ct-lung-seg")
    assert AuditEvent.objects.filter(action="model_enabled").count() == 1
    job = submit_job(study.series_uid, study.study_uid, "ct-lung-seg", ["/nonexistent"],
                     force=True)
    assert job.run == 2


def test_routing_skips_a_disabled_model_with_the_reason(
    client_for: Callable[[str | None], Any], people: Any, tmp_path: Path
) -> None:
    from hub.jobs.models import Job
    from hub.routing.completion import force_complete
    from hub.routing.models import RoutingDecision

    series = store_study(tmp_path, "routed", slices=10)
    client = client_for("ml-engineer")
    client.post("/plugins/toggle/", {"model": "ct-lung-seg", "enabled": "0",
                                     "reason": "under review",
                                     "csrfmiddlewaretoken": csrf_token(client)})
    force_complete(series.series_uid)
    decision = RoutingDecision.objects.get(model_name="ct-lung-seg")
    assert decision.outcome == "skipped"
    assert "disabled by ml-engineer (under review)" in decision.reason
    assert not Job.objects.filter(series_instance_uid=series.series_uid).exists()
    page = client_for("admin").get("/routes/").content.decode()
    assert "disabled by ml-engineer (under review)" in page


def test_toggle_of_unknown_model_changes_nothing(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    from hub.jobs.models import ModelToggle

    client = client_for("ml-engineer")
    answer = client.post("/plugins/toggle/", {"model": "no-such-model", "enabled": "0",
                                              "csrfmiddlewaretoken": csrf_token(client)},
                         follow=True)
    assert "No model named no-such-model" in answer.content.decode()
    assert not ModelToggle.objects.exists()


def test_jobs_list_filters_and_detail(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    first = study.job
    failed = add_job(study, "failed", model="ct-nodule-cls")
    client = client_for("ml-engineer")

    def listed(query: str) -> list[str]:
        return re.findall(r'href="/jobs/(\d+)/"', client.get("/jobs/" + query).content.decode())

    assert listed("") == [str(failed.pk), str(first.pk)]
    assert listed("?state=failed") == [str(failed.pk)]
    assert listed("?model=ct-lung-seg") == [str(first.pk)]
    assert len(listed(f"?study={study.study_uid}")) == 2
    assert listed("?study=1.2.3") == []
    detail = client.get(f"/jobs/{failed.pk}/").content.decode()
    assert "the model ran out of memory" in detail and ">Retry<" in detail
    done = client.get(f"/jobs/{first.pk}/").content.decode()
    for stage in ("load", "inference", "write", "total"):
        assert f"<td>{stage}</td>" in done, stage
    assert "Right lung" in done and ">Retry<" not in done and ">Cancel<" not in done
    assert "Results also to" not in done
    assert client.get("/jobs/999999/").status_code == 404
    routed = add_job(study, "queued", route="all-ct", also_routes=["chest-ct", "research"])
    detail = client.get(f"/jobs/{routed.pk}/").content.decode()
    assert "(route all-ct)" in detail
    assert "<code>send_to</code> of routes chest-ct, research" in detail
    assert "route (all-ct + chest-ct, research)" in client.get("/jobs/").content.decode()


def test_retry_and_cancel(client_for: Callable[[str | None], Any], study: Study) -> None:
    from hub.jobs.models import Job
    from hub.web.ui.models import AuditEvent

    first = study.job
    failed = add_job(study, "failed", model="ct-nodule-cls")
    client = client_for("ml-engineer")
    token = csrf_token(client)
    answer = client.post(f"/jobs/{failed.pk}/retry/", {"csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    failed.refresh_from_db()
    assert failed.state == Job.State.QUEUED and failed.error == ""
    assert AuditEvent.objects.get(action="job_retried").target == f"job {failed.pk}"

    answer = client.post(f"/jobs/{failed.pk}/cancel/", {"csrfmiddlewaretoken": token})
    failed.refresh_from_db()
    assert failed.state == Job.State.CANCELLED
    assert AuditEvent.objects.get(action="job_cancelled").target == f"job {failed.pk}"

    again = client.post(f"/jobs/{first.pk}/cancel/", {"csrfmiddlewaretoken": token},
                        follow=True)
    assert "already succeeded" in again.content.decode()
    assert AuditEvent.objects.filter(action="job_cancelled").count() == 1
    assert client.post("/jobs/999999/retry/", {"csrfmiddlewaretoken": token}).status_code == 404


def test_stats_percentiles() -> None:
    from hub.web.ui.stats import percentile

    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
