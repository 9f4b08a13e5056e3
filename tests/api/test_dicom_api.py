"""``POST /dicom/parse`` (DICOM JSON without pixel data) and ``POST /dicom/upload`` (per-file
outcomes: bad files reported, good ones stored), and ``POST /ai/analyze``."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from api_helpers import People, assert_problem, file_parts, nothing_stored, write_ct, zip_of
from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("empty_hub")


@pytest.fixture
def ct(tmp_path: Path) -> list[Path]:
    return write_ct(tmp_path / "ct", slices=10, size=32, seed="dicom-api")


def test_parse_gives_dicom_json_without_pixels(client: TestClient, people: People,
                                               ct: list[Path]) -> None:
    answer = client.post("/api/v1/dicom/parse", headers=people.reader,
                         files=file_parts(ct[:1], field="file"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/dicom+json"
    body = answer.json()
    source = pydicom.dcmread(ct[0], stop_before_pixels=True)
    assert body["00080060"] == {"vr": "CS", "Value": ["CT"]}
    assert body["0020000E"]["Value"] == [source.SeriesInstanceUID]
    assert body["00280010"] == {"vr": "US", "Value": [32]}
    assert "7FE00010" not in body
    assert pydicom.Dataset.from_json(body).SOPInstanceUID == source.SOPInstanceUID
    nothing_stored()


def test_parse_omits_bulk_binary_values(client: TestClient, people: People, ct: list[Path],
                                        tmp_path: Path) -> None:
    ds = pydicom.dcmread(ct[0])
    ds.add_new(0x00091010, "OB", b"\1" * 4096)  # a long private binary value
    path = tmp_path / "bulk.dcm"
    ds.save_as(path)
    body = client.post("/api/v1/dicom/parse", headers=people.reader,
                       files=file_parts([path], field="file")).json()
    assert body["00091010"] == {"vr": "OB"}


def test_parse_refuses_non_dicom_and_several_files(client: TestClient, people: People,
                                                   ct: list[Path]) -> None:
    body = assert_problem(client.post(
        "/api/v1/dicom/parse", headers=people.reader,
        files=[("file", ("x.txt", b"not dicom at all", "text/plain"))]), 415)
    assert body["file"] == "x.txt"
    assert_problem(client.post("/api/v1/dicom/parse", headers=people.reader,
                               files=file_parts(ct[:2], field="file")), 422)
    assert_problem(client.post("/api/v1/dicom/parse", files=file_parts(ct[:1])), 401)


def test_upload_stores_good_files_and_reports_bad_ones(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    from hub.storage.models import Instance

    parts = file_parts(ct[:3]) + [("files", ("junk.bin", b"\0" * 300, "x"))]
    answer = client.post("/api/v1/dicom/upload", headers=people.inferer, files=parts)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["stored"] == 3 and body["refused"] == 1
    junk = next(f for f in body["files"] if f["file"] == "junk.bin")
    assert junk["status"] == "refused" and junk["http_status"] == 415
    assert Instance.objects.filter(source="rest").count() == 3
    again = client.post("/api/v1/dicom/upload", headers=people.inferer,
                        files=[("files", ("s.zip", zip_of({p.name: p.read_bytes() for p in ct}),
                                          "application/zip"))])
    assert again.status_code == 200 and again.json()["stored"] == 10
    assert sum(f["duplicate"] for f in again.json()["files"]) == 3
    assert Instance.objects.count() == 10


def test_upload_of_only_bad_files_is_a_problem(client: TestClient, people: People) -> None:
    body = assert_problem(client.post(
        "/api/v1/dicom/upload", headers=people.inferer,
        files=[("files", ("a.txt", b"hello", "text/plain"))]), 415)
    assert body["files"][0]["status"] == "refused"
    assert_problem(client.post("/api/v1/dicom/upload", headers=people.reader,
                               files=[("files", ("a.txt", b"hello", "text/plain"))]), 403)
    nothing_stored()


def test_analyze_runs_routed_or_named_models(client: TestClient, people: People,
                                             ct: list[Path]) -> None:
    source = pydicom.dcmread(ct[0], stop_before_pixels=True)
    client.post("/api/v1/dicom/upload", headers=people.inferer, files=file_parts(ct))
    answer = client.post("/api/v1/ai/analyze", headers=people.inferer,
                         json={"SeriesInstanceUID": source.SeriesInstanceUID})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [j["model"]["name"] for j in body["jobs"]] == ["ct-lung-seg"]
    assert body["jobs"][0]["trigger"] == "rest"
    skipped = {d["model"]: d for d in body["decisions"] if d["outcome"] == "skipped"}
    assert "Modality" in skipped["mr-brain-extract"]["reason"]
    named = client.post("/api/v1/ai/analyze", headers=people.inferer,
                        json={"StudyInstanceUID": source.StudyInstanceUID,
                              "models": ["ct-lung-seg"]}).json()
    assert named["jobs"][0]["id"] == body["jobs"][0]["id"]  # the same job, not a second run


def test_analyze_refusals(client: TestClient, people: People, ct: list[Path]) -> None:
    unknown = "1.2.826.0.1.3680043.8.498.999"
    body = assert_problem(client.post("/api/v1/ai/analyze", headers=people.inferer,
                                      json={"StudyInstanceUID": unknown}), 404)
    assert unknown in body["detail"]
    assert_problem(client.post("/api/v1/ai/analyze", headers=people.inferer, json={}), 422)
    body = assert_problem(client.post("/api/v1/ai/analyze", headers=people.inferer,
                                      json={"SeriesInstanceUID": "../../etc"}), 422)
    assert body["field"] == "SeriesInstanceUID"
    assert_problem(client.post("/api/v1/ai/analyze", headers=people.reader,
                               json={"SeriesInstanceUID": unknown}), 403)
    source = pydicom.dcmread(ct[0], stop_before_pixels=True)
    client.post("/api/v1/dicom/upload", headers=people.inferer, files=file_parts(ct))
    assert_problem(client.post("/api/v1/ai/analyze", headers=people.inferer,
                               json={"SeriesInstanceUID": source.SeriesInstanceUID,
                                     "models": ["nope"]}), 404)
