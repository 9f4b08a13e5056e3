"""The viewer's live views: Server-Sent Events (under uvicorn) and the WebSocket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pydicom
import pytest
from dicomweb_helpers import LiveServer, StoredStudy
from starlette.websockets import WebSocketDisconnect

from hub.testing.dicom import uid_from


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream."""
    event, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif line == "" and data:
            yield event, json.loads(data)
            event, data = "message", ""


def add_result(study: StoredStudy, name: str) -> str:
    """Store a copy of the SEG as a new hub result series; returns its SOP Instance UID."""
    from hub.storage.store import store_instance

    seg = pydicom.dcmread(study.phantom.seg_path)
    seg.SOPInstanceUID = uid_from(f"{name}-instance")
    seg.file_meta.MediaStorageSOPInstanceUID = seg.SOPInstanceUID
    seg.SeriesInstanceUID = uid_from(f"{name}-series")
    store_instance(seg, source="result")
    return str(seg.SOPInstanceUID)


def complete_all_series() -> None:
    from hub.storage.models import Series

    Series.objects.update(state=Series.State.COMPLETE)


def plain(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


def test_stream_lists_series_and_instances_with_frame_urls(client, study: StoredStudy,
                                                           tokens) -> None:
    answer = client.get(f"/api/v1/viewer/stream/{study.study}", params={"follow": "false"},
                        headers=tokens.full)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = list(sse_events(iter(answer.text.split("\n"))))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "study" and kinds[-1] == "complete"
    series = {data["SeriesInstanceUID"]: data for kind, data in events if kind == "series"}
    assert set(series) == {study.ct_series, study.seg_series, study.sr_series}
    assert series[study.seg_series]["hub_result"] and not series[study.ct_series]["hub_result"]
    instances = [data for kind, data in events if kind == "instance"]
    ct = [i for i in instances if i["SeriesInstanceUID"] == study.ct_series]
    assert [i["InstanceNumber"] for i in ct] == list(range(1, len(study.ct_uids) + 1))
    frame_url = ct[0]["frame_urls"][0]
    assert frame_url == f"/api/v1/viewer/frames/{ct[0]['SOPInstanceUID']}/1"
    assert client.get(frame_url, headers=tokens.full).headers["content-type"] == "image/png"
    sr = [i for i in instances if i["SeriesInstanceUID"] == study.sr_series]
    assert sr[0]["frames"] == 0 and sr[0]["frame_urls"] == []


def test_stream_errors(client, study: StoredStudy, tokens) -> None:
    assert client.get("/api/v1/viewer/stream/1.2.3", headers=tokens.full).status_code == 404
    assert client.get(f"/api/v1/viewer/stream/{study.study}").status_code == 401
    assert client.get(f"/api/v1/viewer/stream/{study.study}",
                      headers=tokens.infer_only).status_code == 403


def test_stream_follows_jobs_and_new_results_until_complete(study: StoredStudy, tokens,
                                                            jobs_table) -> None:
    """The stream ends only once the succeeded job's SEG is stored, not when the job ends."""
    from hub.jobs.models import Job

    complete_all_series()
    job = Job.objects.create(
        series_instance_uid=study.ct_series, study_instance_uid=study.study,
        model_name="ct-lung-seg", model_version="1.0.0",
        idempotency_key=Job.key_for(study.ct_series, "ct-lung-seg", "1.0.0"), state="running",
    )
    new_uid = str(uid_from("live-result-instance"))
    seen: list[tuple[str, dict[str, Any]]] = []
    with LiveServer() as server, httpx.stream(
        "GET", f"{server.url}/api/v1/viewer/stream/{study.study}", headers=tokens.full,
        params={"timeout": 60}, timeout=60,
    ) as answer:
        assert answer.status_code == 200
        for kind, data in sse_events(answer.iter_lines()):
            seen.append((kind, data))
            if kind == "job" and data["state"] == "running":
                Job.objects.filter(pk=job.pk).update(
                    state="succeeded", result={"seg": {"uid": new_uid, "path": ""}})
            if kind == "job" and data["state"] == "succeeded":
                assert data["results"] == [new_uid]
                time.sleep(1.5)  # polls while the result is not stored yet: no end
                assert add_result(study, "live-result") == new_uid
                complete_all_series()
            if kind in ("complete", "timeout"):
                break
    kinds = [kind for kind, _ in seen]
    assert kinds[-1] == "complete" and seen[-1][1]["finished"] is True
    after_job = seen[kinds.index("job") + 1:]
    assert any(k == "job" and d["state"] == "succeeded" and d["id"] == job.pk
               for k, d in after_job)
    stored_at = [i for i, (k, d) in enumerate(seen)
                 if k == "instance" and d["SOPInstanceUID"] == new_uid]
    assert stored_at and stored_at[0] < len(seen) - 1
    assert any(k == "series" and d["hub_result"] for k, d in after_job)


def test_websocket_sends_a_snapshot_then_new_results(client, study: StoredStudy, tokens,
                                                     jobs_table) -> None:
    from hub.jobs.models import Job

    url = f"/ws/viewer/{study.study}?token={plain(tokens.full)}"
    with client.websocket_connect(url) as socket:
        snapshot = socket.receive_json()
        assert snapshot["type"] == "snapshot"
        assert {s["SeriesInstanceUID"] for s in snapshot["series"]} == {
            study.ct_series, study.seg_series, study.sr_series}
        assert snapshot["instances"] == len(study.ct_uids) + 2
        new_uid = add_result(study, "ws-result")
        Job.objects.create(
            series_instance_uid=study.ct_series, study_instance_uid=study.study,
            model_name="ct-lung-seg", model_version="1.0.0",
            idempotency_key=Job.key_for(study.ct_series, "ct-lung-seg", "1.0.0", 2),
            state="succeeded",
        )
        messages = [socket.receive_json() for _ in range(3)]
    by_type = {m["type"]: m for m in messages}
    assert by_type["series"]["series"]["hub_result"] is True
    assert by_type["instance"]["instance"]["SOPInstanceUID"] == new_uid
    assert by_type["job"]["job"]["state"] == "succeeded"


@pytest.mark.parametrize("which", ["none", "bad", "infer_only"])
def test_websocket_refuses_without_view_studies(client, study: StoredStudy, tokens,
                                                which: str) -> None:
    query = {"none": "", "bad": "?token=phub_bad",
             "infer_only": f"?token={plain(tokens.infer_only)}"}[which]
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"/ws/viewer/{study.study}{query}") as socket:
            socket.receive_json()
    assert refused.value.code == 1008
