"""Jobs through the API: list/filter/page, show, retry/cancel (409 in the wrong state,
403 without manage_jobs), result JSON and SEG/SR downloads (404 before there are any)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import People, assert_problem
from fastapi.testclient import TestClient

from hub.settings import get_settings

pytestmark = pytest.mark.usefixtures("jobs_table")


@pytest.fixture
def job_row(jobs_table: None) -> Callable[..., Any]:
    import itertools

    from hub.jobs.models import Job

    serial = itertools.count(1)

    def add(model: str = "ct-lung-seg", state: str = "queued", **fields: Any) -> Job:
        series = f"1.2.826.0.1.3680043.8.498.77.{next(serial)}"
        return Job.objects.create(
            series_instance_uid=series, study_instance_uid="1.2.826.0.1.3680043.8.498.77",
            model_name=model, model_version="1.0.0",
            idempotency_key=Job.key_for(series, model, "1.0.0"), state=state, **fields,
        )

    return add


def test_list_filters_and_pages(client: TestClient, people: People, job_row: Callable) -> None:
    for state in ("queued", "failed", "succeeded", "failed"):
        job_row(state=state)
    job_row(model="mr-brain-extract", state="failed")
    body = client.get("/api/v1/jobs", headers=people.reader).json()
    assert body["total"] == 5 and len(body["items"]) == 5
    failed = client.get("/api/v1/jobs?state=failed", headers=people.reader).json()
    assert failed["total"] == 3 and {j["state"] for j in failed["items"]} == {"failed"}
    lung = client.get("/api/v1/jobs?state=failed&model=ct-lung-seg", headers=people.reader)
    assert lung.json()["total"] == 2
    page = client.get("/api/v1/jobs?limit=2&offset=4", headers=people.reader).json()
    assert page["total"] == 5 and len(page["items"]) == 1 and page["offset"] == 4
    assert_problem(client.get("/api/v1/jobs?state=bogus", headers=people.reader), 422)
    assert_problem(client.get("/api/v1/jobs?limit=0", headers=people.reader), 422)


def test_show_job_with_timings_and_error(client: TestClient, people: People,
                                         job_row: Callable) -> None:
    job = job_row(state="failed", error="boom", error_kind="InferenceError",
                  timings={"load": 0.5})
    body = client.get(f"/api/v1/jobs/{job.pk}", headers=people.reader).json()
    assert body["error"] == "boom" and body["error_kind"] == "InferenceError"
    assert body["timings_s"] == {"load": 0.5} and body["result"] is None
    assert (body["route"], body["also_routes"]) == ("", [])
    assert_problem(client.get("/api/v1/jobs/999999", headers=people.reader), 404)
    routed = job_row(trigger="route", route="all-ct", also_routes=["chest-ct"])
    body = client.get(f"/api/v1/jobs/{routed.pk}", headers=people.reader).json()
    assert (body["route"], body["also_routes"]) == ("all-ct", ["chest-ct"])


def test_retry_and_cancel_states(client: TestClient, people: People, job_row: Callable) -> None:
    queued, failed, done = job_row(), job_row(state="failed"), job_row(state="succeeded")
    body = assert_problem(client.post(f"/api/v1/jobs/{queued.pk}/retry",
                                      headers=people.engineer), 409)
    assert "queued" in body["detail"]
    assert_problem(client.delete(f"/api/v1/jobs/{done.pk}", headers=people.engineer), 409)
    cancelled = client.delete(f"/api/v1/jobs/{queued.pk}", headers=people.engineer)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    retried = client.post(f"/api/v1/jobs/{failed.pk}/retry", headers=people.engineer)
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    assert_problem(client.post("/api/v1/jobs/999999/retry", headers=people.engineer), 404)


def test_radiologist_and_read_token_cannot_manage_jobs(
    client: TestClient, people: People, job_row: Callable
) -> None:
    from api_helpers import login_session

    job = job_row(state="failed")
    for headers in (people.radiologist, people.reader, people.inferer):
        body = assert_problem(client.post(f"/api/v1/jobs/{job.pk}/retry", headers=headers), 403)
        assert body["permission"] == "manage_jobs"
        assert_problem(client.delete(f"/api/v1/jobs/{job.pk}", headers=headers), 403)
    client.cookies.set("pacs_hub_session", login_session(people.users["radiologist"]))
    assert client.get(f"/api/v1/jobs/{job.pk}").status_code == 200  # the session works
    assert_problem(client.post(f"/api/v1/jobs/{job.pk}/retry"), 403)


def test_result_and_downloads_404_before_success(client: TestClient, people: People,
                                                 job_row: Callable) -> None:
    job = job_row(state="running")
    for tail in ("result", "seg", "sr"):
        body = assert_problem(client.get(f"/api/v1/jobs/{job.pk}/{tail}",
                                         headers=people.reader), 404)
        assert body["state"] == "running"


def test_result_json_with_codes_and_downloads(client: TestClient, people: People,
                                              job_row: Callable) -> None:
    results = get_settings().data_dir.resolve() / "results" / "x"
    results.mkdir(parents=True)
    (results / "seg.dcm").write_bytes(b"\0" * 128 + b"DICMseg")
    (results / "sr.dcm").write_bytes(b"\0" * 128 + b"DICMsr")
    job = job_row(state="succeeded", result={
        "seg": {"uid": "1.2.3.4", "path": str(results / "seg.dcm")},
        "sr": {"uid": "1.2.3.5", "path": str(results / "sr.dcm")},
        "segments": [{"label": 1, "name": "Right lung", "voxels": 10, "volume_ml": 1.5}],
        "measurements": [{"key": "right_lung_volume", "value": 1.5, "unit": "ml"}],
        "findings": [], "slices": 12,
    })
    body = client.get(f"/api/v1/jobs/{job.pk}/result", headers=people.reader).json()
    assert body["segments"][0]["type"]["meaning"] == "Lung"
    assert body["segments"][0]["laterality"]["meaning"] == "Right"
    measurement = body["measurements"][0]
    assert measurement["unit"] == {"value": "ml", "scheme": "UCUM", "meaning": "milliliter"}
    assert measurement["concept"]["value"] == "118565006" and measurement["segment_label"] == 1
    assert body["seg"] == {"SOPInstanceUID": "1.2.3.4", "url": f"/api/v1/jobs/{job.pk}/seg"}
    assert "path" not in str(body)
    seg = client.get(body["seg"]["url"], headers=people.reader)
    assert seg.status_code == 200 and seg.headers["content-type"] == "application/dicom"
    assert seg.content.endswith(b"DICMseg")
    assert "seg-1.2.3.4.dcm" in seg.headers["content-disposition"]
    assert client.get(f"/api/v1/jobs/{job.pk}/sr", headers=people.reader).content.endswith(
        b"DICMsr")


def test_result_outside_the_results_folder_is_never_served(
    client: TestClient, people: People, job_row: Callable, tmp_path: Any
) -> None:
    secret = tmp_path / "secret.dcm"
    secret.write_bytes(b"secret")
    job = job_row(state="succeeded", result={"seg": {"uid": "1.2.3", "path": str(secret)}})
    answer = client.get(f"/api/v1/jobs/{job.pk}/seg", headers=people.reader)
    assert_problem(answer, 404)
    assert b"secret" not in answer.content.replace(b"secret.dcm", b"")
