"""The worklist: studies from the index with patient data from their files, AI status per
model with finding badge and review, filters, search, sort, paging, live status, ``/``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import Study, add_job, store_study


def rows_of(html: str) -> list[str]:
    """The study UIDs of the worklist rows, in order."""
    return re.findall(r'<tr data-study="([^"]+)"', html)


def test_worklist_shows_stored_study_with_job_status_and_review(
    client_for: Callable[[str | None], Any], study: Study, people: dict[str, Any]
) -> None:
    from hub.web.ui.models import ResultReview

    client = client_for("radiologist")
    page = client.get("/worklist/").content.decode()
    assert rows_of(page) == [study.study_uid]
    assert "Rossi, Phantom" in page
    assert study.patient_id in page and study.accession in page
    assert "Chest phantom" in page and ">CT<" in page
    assert "2026-01-01" in page
    assert 'class="state state-done">done' in page
    assert "2 segments, 2 measurements" in page
    assert "to review" in page
    assert f'href="/reports/{study.study_uid}/"' in page
    assert f'href="/dicom-viewer/{study.study_uid}/"' in page

    ResultReview.objects.create(job=study.job, study_instance_uid=study.study_uid,
                                decision="rejected", reviewer=people["radiologist"],
                                reviewer_name="radiologist")
    page = client.get("/worklist/").content.decode()
    assert 'class="review review-rejected"' in page and "to review" not in page


def test_worklist_shows_each_models_state(
    client_for: Callable[[str | None], Any], people: dict[str, Any], tmp_path: Path
) -> None:
    queued = store_study(tmp_path, "queued-study", patient="Queue")
    add_job(queued, "queued")
    add_job(queued, "running", model="ct-nodule-cls")
    failed = store_study(tmp_path, "failed-study", patient="Fail")
    add_job(failed, "failed")
    store_study(tmp_path, "no-ai-study", patient="Plain")
    page = client_for("ml-engineer").get("/worklist/").content.decode()
    assert len(rows_of(page)) == 3
    for text in ("state-queued\">queued", "state-running\">running", "state-failed\">failed",
                 "no AI", "ct-nodule-cls"):
        assert text in page, text


@pytest.fixture
def three_studies(people: dict[str, Any], tmp_path: Path) -> dict[str, Study]:
    """CT Alpha (done), MR Beta (failed), CT Gamma (no AI), stored in that order."""
    alpha = store_study(tmp_path, "alpha", patient="Alpha", description="Chest")
    add_job(alpha, "succeeded", result={"findings": [{"key": "nodule", "value": "present",
                                                      "score": 0.9}]})
    beta = store_study(tmp_path, "beta", patient="Beta", modality="MR", description="Brain")
    add_job(beta, "failed")
    gamma = store_study(tmp_path, "gamma", patient="Gamma", description="Abdomen")
    return {"alpha": alpha, "beta": beta, "gamma": gamma}


def test_filters_search_and_sort(
    client_for: Callable[[str | None], Any], three_studies: dict[str, Study]
) -> None:
    client = client_for("radiologist")
    uid = {name: s.study_uid for name, s in three_studies.items()}

    def listed(query: str) -> list[str]:
        answer = client.get("/worklist/" + query)
        assert answer.status_code == 200, query
        return rows_of(answer.content.decode())

    assert listed("") == [uid["gamma"], uid["beta"], uid["alpha"]]  # newest arrival first
    assert listed("?sort=received") == [uid["alpha"], uid["beta"], uid["gamma"]]
    assert listed("?sort=patient") == [uid["alpha"], uid["beta"], uid["gamma"]]
    assert listed("?sort=-patient") == [uid["gamma"], uid["beta"], uid["alpha"]]
    assert listed("?modality=MR") == [uid["beta"]]
    assert listed("?q=gAmMa") == [uid["gamma"]]
    assert listed(f"?q={three_studies['beta'].patient_id}") == [uid["beta"]]
    assert listed(f"?q={three_studies['alpha'].accession}") == [uid["alpha"]]
    assert listed("?q=nobody-has-this") == []
    assert listed("?status=done") == [uid["alpha"]]
    assert listed("?status=failed") == [uid["beta"]]
    assert listed("?status=none") == [uid["gamma"]]
    assert listed("?status=to-review") == [uid["alpha"]]
    assert listed("?date_from=2026-01-01&date_to=2026-01-01") == [
        uid["gamma"], uid["beta"], uid["alpha"]]
    assert listed("?date_from=2026-01-02") == []
    assert listed("?modality=CT&status=done&q=alpha") == [uid["alpha"]]
    page = client.get("/worklist/?status=done").content.decode()
    assert "nodule: present (0.90)" in page
    bad = client.get("/worklist/?date_from=yesterday&status=bogus")
    assert bad.status_code == 200 and "not understood" in bad.content.decode()


def test_paging(client_for: Callable[[str | None], Any], people: dict[str, Any],
                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.web.ui import worklist

    monkeypatch.setattr(worklist, "PAGE_SIZE", 2)
    for n in range(5):
        store_study(tmp_path, f"page-{n}", patient=f"P{n}")
    client = client_for("radiologist")
    first = client.get("/worklist/").content.decode()
    assert len(rows_of(first)) == 2 and "Page 1 of 3" in first and 'rel="next"' in first
    last = client.get("/worklist/?page=3").content.decode()
    assert len(rows_of(last)) == 1 and 'rel="prev"' in last
    pages = [client.get(f"/worklist/?page={p}").content.decode() for p in (1, 2, 3)]
    seen = {uid for page in pages for uid in rows_of(page)}
    assert len(seen) == 5
    assert len(rows_of(client.get("/worklist/?page=99").content.decode())) == 1


def test_result_series_are_not_listed_as_studies(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    from hub.storage.models import Series

    Series.objects.filter(study_instance_uid=study.study_uid).update(hub_results=True)
    page = client_for("radiologist").get("/worklist/").content.decode()
    assert rows_of(page) == []


def test_status_json_reports_changes_for_live_updates(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    client = client_for("radiologist")
    answer = client.get(f"/worklist/status.json?study={study.study_uid}")
    body = answer.json()
    entry = body["studies"][study.study_uid]
    assert entry["status"] == "done" and entry["review"] == "to-review"
    assert "state-done" in entry["html"]
    assert body["latest"]
    study.job.__class__.objects.filter(pk=study.job.pk).update(state="running")
    entry = client.get(f"/worklist/status.json?study={study.study_uid}").json()["studies"][
        study.study_uid]
    assert entry["status"] == "running" and "state-running" in entry["html"]
    page = client.get("/worklist/").content.decode()
    assert 'data-ws-url="/ws/jobs"' in page and "/static/ui/worklist.js" in page


def test_root_redirects_to_login_then_worklist(
    client_for: Callable[[str | None], Any], people: dict[str, Any]
) -> None:
    anonymous = client_for(None)
    answer = anonymous.get("/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert client_for("radiologist").get("/")["Location"] == "/worklist/"


def test_opening_the_worklist_is_audited(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    from hub.web.ui.models import AuditEvent

    client_for("radiologist").get("/worklist/")
    event = AuditEvent.objects.get(action="worklist_viewed")
    assert event.username == "radiologist" and event.ip == "127.0.0.1"


def test_header_reads_are_cached(
    client_for: Callable[[str | None], Any], study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.web.ui import studies

    calls: list[Path] = []
    real = studies._read_header

    def counting(path: Path, uid: str) -> Any:
        calls.append(path)
        return real(path, uid)

    monkeypatch.setattr(studies, "_read_header", counting)
    client = client_for("radiologist")
    client.get("/worklist/?q=rossi")
    client.get("/worklist/?q=rossi")
    client.get("/worklist/")
    assert len(calls) == 1
