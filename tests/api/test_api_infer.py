"""``POST /api/v1/models/{name}/infer`` through the TestClient: every refusal with its status
and problem body and nothing stored; a good upload stored and submitted (no worker here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import (
    People,
    assert_problem,
    file_parts,
    nothing_stored,
    write_ct,
    zip_of,
)
from fastapi.testclient import TestClient

from hub.settings import override_settings

URL = "/api/v1/models/ct-lung-seg/infer"
pytestmark = pytest.mark.usefixtures("empty_hub")


@pytest.fixture
def ct(tmp_path: Path) -> list[Path]:
    return write_ct(tmp_path / "ct", slices=10, size=32, seed="infer-ct")


def test_good_upload_is_stored_and_a_rest_job_created(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    from hub.jobs.models import Job
    from hub.storage.models import Instance

    answer = client.post(URL, headers=people.inferer, files=file_parts(ct))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["state"] == "queued" and body["model"]["name"] == "ct-lung-seg"
    assert body["trigger"] == "rest" and body["result"] is None
    assert body["urls"]["self"] == f"/api/v1/jobs/{body['id']}"
    assert body["urls"]["ws"] == f"/ws/jobs?job={body['id']}"
    assert answer.headers["location"] == body["urls"]["self"]
    assert Instance.objects.filter(source="rest").count() == len(ct)
    job = Job.objects.get(pk=body["id"])
    assert len(job.source_paths) == len(ct)
    assert all(Path(p).is_file() for p in job.source_paths)
    # the same series again: the same job (nothing runs twice)
    again = client.post(URL, headers=people.inferer, files=file_parts(ct))
    assert again.status_code == 202 and again.json()["id"] == body["id"]


def test_zip_upload_and_wait_without_worker_answers_202(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    archive = zip_of({f"series/{p.name}": p.read_bytes() for p in ct})
    answer = client.post(URL + "?wait=0.3", headers=people.inferer,
                         files=[("files", ("ct.zip", archive, "application/zip"))])
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "queued"


def test_wait_answers_200_with_the_result_once_done(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    from hub.jobs.models import Job

    first = client.post(URL, headers=people.inferer, files=file_parts(ct)).json()
    Job.objects.filter(pk=first["id"]).update(
        state="succeeded", result={"segments": [], "measurements": [
            {"key": "right_lung_volume", "value": 12.5, "unit": "ml"}], "findings": []})
    answer = client.post(URL + "?wait=5", headers=people.inferer, files=file_parts(ct))
    assert answer.status_code == 200, answer.text
    measurement = answer.json()["result"]["measurements"][0]
    assert measurement["unit"]["value"] == "ml" and measurement["concept"]["meaning"] == "Volume"


def test_missing_token_is_401_and_nothing_stored(client: TestClient, ct: list[Path]) -> None:
    answer = client.post(URL, files=file_parts(ct))
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"].startswith("Bearer")
    nothing_stored()


def test_read_only_token_is_403(client: TestClient, people: People, ct: list[Path]) -> None:
    body = assert_problem(client.post(URL, headers=people.reader, files=file_parts(ct)), 403)
    assert body["permission"] == "run_inference"
    nothing_stored()


def test_unknown_model_is_404(client: TestClient, people: People, ct: list[Path]) -> None:
    answer = client.post("/api/v1/models/no-such-model/infer", headers=people.inferer,
                         files=file_parts(ct))
    body = assert_problem(answer, 404)
    assert "no-such-model" in body["detail"] and "ct-lung-seg" in body["fix"]
    nothing_stored()


def test_declared_oversize_is_413_before_reading(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    override_settings(api={"max_upload_bytes": 4096})
    headers = {**people.inferer, "Content-Length": "999999999",
               "Content-Type": "multipart/form-data; boundary=x"}
    assert_problem(client.post(URL, headers=headers, content=b"--x--"), 413)
    nothing_stored()


def test_streamed_oversize_is_413(client: TestClient, people: People, ct: list[Path]) -> None:
    override_settings(api={"max_upload_bytes": 8192})

    def body():  # chunked: no Content-Length at all
        yield b"--xyz\r\nContent-Disposition: form-data; name=files; filename=a.dcm\r\n\r\n"
        for _ in range(20):
            yield b"\0" * 1024
        yield b"\r\n--xyz--\r\n"

    headers = {**people.inferer, "Content-Type": "multipart/form-data; boundary=xyz"}
    body_answer = client.post(URL, headers=headers, content=body())
    assert_problem(body_answer, 413)
    nothing_stored()


def test_too_many_files_is_413(client: TestClient, people: People, ct: list[Path]) -> None:
    override_settings(api={"max_files": 3})
    assert_problem(client.post(URL, headers=people.inferer, files=file_parts(ct)), 413)
    nothing_stored()


@pytest.mark.parametrize("name", ["../evil.dcm", "/etc/evil.dcm", "a/../../evil.dcm",
                                  "C:/evil.dcm", "..\\evil.dcm"])
def test_zip_with_unsafe_paths_is_refused(
    client: TestClient, people: People, ct: list[Path], name: str
) -> None:
    archive = zip_of({ct[0].name: ct[0].read_bytes(), name: ct[1].read_bytes()})
    answer = client.post(URL, headers=people.inferer,
                         files=[("files", ("ct.zip", archive, "application/zip"))])
    body = assert_problem(answer, 422)
    assert "unsafe" in body["detail"]
    nothing_stored()


def test_zip_bomb_is_refused_before_extraction(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    override_settings(api={"max_expanded_bytes": 1024 * 1024})
    archive = zip_of({"zeros.dcm": b"\0" * (8 * 1024 * 1024)})
    assert len(archive) < 64 * 1024
    body = assert_problem(client.post(URL, headers=people.inferer,
                                      files=[("files", ("bomb.zip", archive, "x"))]), 413)
    assert "expands" in body["detail"]
    nothing_stored()


def test_zip_with_too_many_entries_is_413(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    override_settings(api={"max_files": 5})
    archive = zip_of({f"{i}.dcm": b"x" for i in range(50)})
    assert_problem(client.post(URL, headers=people.inferer,
                                files=[("files", ("many.zip", archive, "x"))]), 413)
    nothing_stored()


def test_lying_zip_entry_is_stopped_while_extracting(
    client: TestClient, people: People, ct: list[Path]
) -> None:
    """An entry whose real size exceeds the size its headers declare is cut off at it."""
    import struct

    archive = bytearray(zip_of({"big.dcm": b"\0" * 200_000}))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = archive.find(signature)
        archive[at + offset:at + offset + 4] = struct.pack("<I", 100)  # uncompressed size
    answer = client.post(URL, headers=people.inferer,
                         files=[("files", ("liar.zip", bytes(archive), "x"))])
    assert answer.status_code in (413, 415), answer.text
    nothing_stored()


def test_not_dicom_is_415(client: TestClient, people: People, ct: list[Path]) -> None:
    parts = file_parts(ct[:9]) + [("files", ("notes.txt", b"hello " * 40, "text/plain"))]
    body = assert_problem(client.post(URL, headers=people.inferer, files=parts), 415)
    assert body["file"] == "notes.txt"
    nothing_stored()


def test_body_not_multipart_is_415(client: TestClient, people: People) -> None:
    answer = client.post(URL, headers={**people.inferer, "Content-Type": "application/json"},
                         content=b"{}")
    assert_problem(answer, 415)
    nothing_stored()


def test_no_file_part_is_422(client: TestClient, people: People) -> None:
    answer = client.post(URL, headers=people.inferer, data={"note": "nothing"},
                         files=[("other", ("", b"", "text/plain"))])
    assert answer.status_code in (415, 422), answer.text
    nothing_stored()


def test_mixed_series_is_422_naming_the_field(
    client: TestClient, people: People, ct: list[Path], tmp_path: Path
) -> None:
    other = write_ct(tmp_path / "other", slices=10, size=32, seed="infer-other")
    body = assert_problem(
        client.post(URL, headers=people.inferer, files=file_parts(ct + other)), 422
    )
    assert body["field"] == "SeriesInstanceUID" and "2 series" in body["detail"]
    nothing_stored()


def test_modality_not_accepted_is_422_naming_the_field(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    mr = write_ct(tmp_path / "mr", slices=10, size=32, seed="infer-mr", modality="MR")
    body = assert_problem(client.post(URL, headers=people.inferer, files=file_parts(mr)), 422)
    assert body["field"] == "Modality" and "'MR'" in body["detail"]
    nothing_stored()


def test_too_few_slices_is_422(client: TestClient, people: People, ct: list[Path]) -> None:
    body = assert_problem(client.post(URL, headers=people.inferer, files=file_parts(ct[:4])),
                          422)
    assert body["field"] == "NumberOfSlices" and "min_slices" in body["detail"]
    nothing_stored()


def test_bad_uid_is_422_naming_it(client: TestClient, people: People, ct: list[Path],
                                  tmp_path: Path) -> None:
    import pydicom

    bad = pydicom.dcmread(ct[0])
    bad.SOPInstanceUID = "1.2.not-a-uid"
    path = tmp_path / "bad.dcm"
    bad.save_as(path)
    body = assert_problem(
        client.post(URL, headers=people.inferer, files=file_parts([path] + ct[1:])), 422
    )
    assert body["field"] == "SOPInstanceUID"
    nothing_stored()
