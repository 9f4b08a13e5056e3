"""End to end over real HTTP: uvicorn on 127.0.0.1 and a real Celery worker.

The CT phantom goes to ``ct-lung-seg`` through ``POST /infer``; ``/ws/jobs`` is followed
until the job is done; the SEG and SR are downloaded and checked as the spine's tests check
them (dcmdump, dciodvfy, highdicom reads them, they reference the uploaded series).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import highdicom as hd
import httpx
import pydicom
import pytest
from api_helpers import LiveHub, People, file_parts, write_ct
from websockets.sync.client import connect

from hub.testing.validators import assert_dicom_valid, require_tool

pytestmark = pytest.mark.usefixtures("empty_hub")


def follow(hub: LiveHub, job_id: int, headers: dict[str, str], timeout: float = 180) -> list[str]:
    """The states ``/ws/jobs?job=ID`` reports until the job has finished."""
    url = hub.url.replace("http://", "ws://") + f"/ws/jobs?job={job_id}"
    states: list[str] = []
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        while not states or states[-1] not in ("succeeded", "failed", "cancelled"):
            message = json.loads(socket.recv(timeout=timeout))
            assert message["type"] == "job" and message["job"]["id"] == job_id
            states.append(message["job"]["state"])
    return states


def test_upload_follow_and_download_seg_and_sr(
    live_hub: LiveHub, people: People, tmp_path: Path
) -> None:
    require_tool("dcmdump")
    require_tool("dciodvfy")
    ct = write_ct(tmp_path / "ct", slices=16, size=96, seed="rest-e2e")
    source = pydicom.dcmread(ct[0], stop_before_pixels=True)
    with httpx.Client(base_url=live_hub.url, headers=people.inferer, timeout=60) as http:
        answer = http.post("/api/v1/models/ct-lung-seg/infer", files=file_parts(ct))
        assert answer.status_code == 202, answer.text
        job = answer.json()
        states = follow(live_hub, job["id"], people.inferer)
        assert states[-1] == "succeeded", http.get(job["urls"]["self"]).json()["error"]

        shown = http.get(job["urls"]["self"]).json()
        assert set(shown["timings_s"]) >= {"load", "inference", "write", "total"}
        result = http.get(job["urls"]["result"]).json()
        assert {s["name"]: s["voxels"] > 0 for s in result["segments"]} == {
            "Right lung": True, "Left lung": True}
        volumes = {m["key"]: m for m in result["measurements"]}
        assert volumes["right_lung_volume"]["unit"]["value"] == "ml"
        assert volumes["right_lung_volume"]["value"] > 0

        downloads = {}
        for kind in ("seg", "sr"):
            got = http.get(job["urls"][kind])
            assert got.status_code == 200 and got.headers["content-type"] == "application/dicom"
            path = tmp_path / f"{kind}.dcm"
            path.write_bytes(got.content)
            assert_dicom_valid(path)
            downloads[kind] = path

    seg = hd.seg.segread(downloads["seg"])
    assert seg.SOPInstanceUID == result["seg"]["SOPInstanceUID"]
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    pixels = seg.pixel_array.reshape(int(seg.NumberOfFrames), -1)
    counted: dict[int, int] = {}
    for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        counted[number] = counted.get(number, 0) + int(pixels[index].astype(bool).sum())
    assert counted == {s["label"]: s["voxels"] for s in result["segments"]}
    sr = hd.sr.srread(downloads["sr"])
    assert len(sr.content.get_volumetric_roi_measurement_groups()) == 2
    assert pydicom.dcmread(io.BytesIO(downloads["sr"].read_bytes())).Modality == "SR"


def test_wait_answers_with_the_result(live_hub: LiveHub, people: People, tmp_path: Path) -> None:
    ct = write_ct(tmp_path / "ct", slices=10, size=64, seed="rest-e2e-wait")
    with httpx.Client(base_url=live_hub.url, headers=people.inferer, timeout=200) as http:
        answer = http.post("/api/v1/models/ct-lung-seg/infer?wait=120", files=file_parts(ct))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == "succeeded"
        assert body["result"]["seg"]["url"] == f"/api/v1/jobs/{body['id']}/seg"
        # the session cookie of a logged-in radiologist reads it too; a read-only token
        # cannot infer
        from api_helpers import login_session

        cookie = {"pacs_hub_session": login_session(people.users["radiologist"])}
        shown = httpx.get(live_hub.url + body["urls"]["self"], cookies=cookie)
        assert shown.status_code == 200 and shown.json()["state"] == "succeeded"
        refused = httpx.post(live_hub.url + "/api/v1/models/ct-lung-seg/infer",
                             headers=people.reader, files=file_parts(ct))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
