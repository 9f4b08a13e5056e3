"""STOW-RS through the TestClient: statuses, the response module, nothing stored for failures."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from dicomweb_helpers import Phantom
from pydicom import Dataset

from hub.settings import override_settings
from hub.web.dicomweb.multipart import Part, stream_parts

BOUNDARY = "stow-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def body_of(*files: bytes, part_type: str = "application/dicom") -> bytes:
    return b"".join(stream_parts([Part(part_type, data=data) for data in files], BOUNDARY))


def encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def stored_uids() -> set[str]:
    from hub.storage.models import Instance

    return set(Instance.objects.values_list("sop_instance_uid", flat=True))


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "instances").rglob("*.dcm"))


def post(client, body: bytes, headers: dict[str, str], study: str | None = None,
         content_type: str = CONTENT_TYPE):
    url = "/dicomweb/studies" + (f"/{study}" if study else "")
    return client.post(url, content=body, headers={**headers, "Content-Type": content_type})


def test_stow_stores_a_series(client, empty_index, tokens, phantom: Phantom, data_dir) -> None:
    answer = post(client, body_of(*(p.read_bytes() for p in phantom.ct_paths)), tokens.full)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/dicom+json"
    response = Dataset.from_json(answer.json())
    uids = {str(item.ReferencedSOPInstanceUID) for item in response.ReferencedSOPSequence}
    expected = {str(ds.SOPInstanceUID) for ds in phantom.ct}
    assert uids == expected == stored_uids()
    assert "FailedSOPSequence" not in response
    assert response.RetrieveURL.endswith(f"/dicomweb/studies/{phantom.ct[0].StudyInstanceUID}")
    from hub.storage.models import Instance

    assert set(Instance.objects.values_list("source", flat=True)) == {"stow"}
    assert len(stored_files(data_dir)) == len(expected)


def test_partial_failure_names_the_bad_instance_and_stores_nothing_of_it(
    client, empty_index, tokens, phantom: Phantom, data_dir
) -> None:
    good = phantom.ct[0]
    bad = phantom.ct[1]
    bad.SOPInstanceUID = "1.2.3.bad-uid"
    not_dicom = b"this is not DICOM"
    answer = post(client, body_of(encoded(good), encoded(bad), not_dicom), tokens.full)
    assert answer.status_code == 202, answer.text
    response = Dataset.from_json(answer.json())
    assert [str(i.ReferencedSOPInstanceUID) for i in response.ReferencedSOPSequence] == [
        str(good.SOPInstanceUID)]
    failures = {(str(i.ReferencedSOPInstanceUID), int(i.FailureReason))
                for i in response.FailedSOPSequence}
    assert failures == {("", 0xA900), ("", 0xC000)}
    assert stored_uids() == {str(good.SOPInstanceUID)}
    assert [p.name for p in stored_files(data_dir)] == [f"{good.SOPInstanceUID}.dcm"]
    assert not [p for p in (data_dir / "instances").rglob("*") if p.name.endswith(".tmp")]


def test_all_failed_is_409_and_study_mismatch_fails(client, empty_index, tokens,
                                                    phantom: Phantom) -> None:
    answer = post(client, body_of(phantom.ct_paths[0].read_bytes()), tokens.full,
                  study="1.2.826.0.1.3680043.8.498.1")
    assert answer.status_code == 409
    response = Dataset.from_json(answer.json())
    (item,) = response.FailedSOPSequence
    assert int(item.FailureReason) == 0xA900
    assert str(item.ReferencedSOPInstanceUID) == str(phantom.ct[0].SOPInstanceUID)
    assert stored_uids() == set()
    right = post(client, body_of(phantom.ct_paths[0].read_bytes()), tokens.full,
                 study=str(phantom.ct[0].StudyInstanceUID))
    assert right.status_code == 200


@pytest.mark.parametrize("content_type", [
    "application/dicom",
    'multipart/related; type="application/dicom+json"; boundary=x',
    "application/json",
])
def test_other_media_types_are_415(client, empty_index, tokens, content_type: str) -> None:
    answer = post(client, b"{}", tokens.full, content_type=content_type)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"


def test_malformed_bodies_are_400(client, empty_index, tokens) -> None:
    assert post(client, b"no parts here", tokens.full).status_code == 400
    unclosed = body_of(b"x")[: -len(f"--{BOUNDARY}--\r\n")]
    assert post(client, unclosed, tokens.full).status_code == 400
    no_boundary = 'multipart/related; type="application/dicom"'
    assert post(client, body_of(b"x"), tokens.full, content_type=no_boundary).status_code == 400


def test_over_the_limit_is_413(client, empty_index, tokens, phantom: Phantom) -> None:
    override_settings(api={"max_upload_bytes": 4096})
    answer = post(client, body_of(*(p.read_bytes() for p in phantom.ct_paths[:2])),
                  tokens.full)
    assert answer.status_code == 413
    override_settings(api={"max_files": 1})
    answer = post(client, body_of(*(p.read_bytes() for p in phantom.ct_paths[:2])),
                  tokens.full)
    assert answer.status_code == 413
    assert stored_uids() == set()


def test_stow_needs_run_inference(client, empty_index, tokens, phantom: Phantom) -> None:
    body = body_of(phantom.ct_paths[0].read_bytes())
    assert post(client, body, {}).status_code == 401
    forbidden = post(client, body, tokens.read)
    assert forbidden.status_code == 403
    assert forbidden.json()["permission"] == "run_inference"
    assert stored_uids() == set()


def test_parts_with_another_type_fail(client, empty_index, tokens, phantom: Phantom) -> None:
    body = body_of(phantom.ct_paths[0].read_bytes(), part_type="application/octet-stream")
    answer = post(client, body, tokens.full)
    assert answer.status_code == 409
    item = pydicom.Dataset.from_json(answer.json()).FailedSOPSequence[0]
    assert int(item.FailureReason) == 0xC000
