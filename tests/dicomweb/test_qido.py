"""QIDO-RS through the TestClient: matching, counts, paging, includefield, auth."""

from __future__ import annotations

from typing import Any

import pytest
from dicomweb_helpers import CT_IMAGE, SEG_STORAGE, StoredStudy

SR_STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


def value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value")
    return values[0] if values else None


def values(item: dict[str, Any], tag: str) -> list[Any]:
    return list(item.get(tag, {}).get("Value", []))


def search(client, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get(f"/dicomweb{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/dicom+json"
    return answer.json()


def test_study_search_carries_modalities_and_counts(client, study: StoredStudy, tokens) -> None:
    found = search(client, "/studies", tokens.full)
    assert len(found) == 1
    item = found[0]
    assert value(item, "0020000D") == study.study
    assert values(item, "00080061") == ["CT", "SEG", "SR"]  # ModalitiesInStudy
    assert value(item, "00201206") == 3  # NumberOfStudyRelatedSeries
    assert value(item, "00201208") == len(study.ct_uids) + 2  # NumberOfStudyRelatedInstances
    assert value(item, "00100010") == {"Alphabetic": "Doe^Phantom"}
    assert value(item, "00100020").startswith("PH-")
    assert value(item, "00080020") == "20260101"
    assert value(item, "00081190").endswith(f"/dicomweb/studies/{study.study}")


@pytest.mark.parametrize(
    ("params", "matches"),
    [
        ({"PatientName": "doe*"}, True),  # wildcard, case-insensitive for PN
        ({"PatientName": "*phan?om"}, True),
        ({"PatientName": "Smith*"}, False),
        ({"00100010": "*DOE*"}, True),  # by tag, as OHIF sends it
        ({"StudyDate": "20250101-20261231"}, True),
        ({"StudyDate": "-20251231"}, False),
        ({"StudyDate": "20260101-"}, True),
        ({"StudyDate": "20260101"}, True),
        ({"ModalitiesInStudy": "MR"}, False),
        ({"ModalitiesInStudy": "MR,CT"}, True),
        ({"Modality": "SEG"}, True),
        ({"AccessionNumber": "ACC*"}, True),
        ({"AccessionNumber": "NOPE"}, False),
        ({"StudyInstanceUID": "1.2.3"}, False),
        ({"fuzzymatching": "true", "PatientName": "Doe*"}, True),
    ],
)
def test_study_matching(client, study: StoredStudy, tokens, params, matches) -> None:
    found = search(client, "/studies", tokens.full, **params)
    assert len(found) == (1 if matches else 0)


def test_patient_id_matching(client, study: StoredStudy, tokens) -> None:
    patient_id = value(search(client, "/studies", tokens.full)[0], "00100020")
    assert search(client, "/studies", tokens.full, PatientID=patient_id)
    assert not search(client, "/studies", tokens.full, PatientID=patient_id + "X")
    assert search(client, "/studies", tokens.full, StudyInstanceUID=f"1.2.3,{study.study}")


def test_no_match_is_an_empty_array(client, study: StoredStudy, tokens) -> None:
    answer = client.get("/dicomweb/studies", params={"PatientName": "Nobody"},
                        headers=tokens.full)
    assert answer.status_code == 200
    assert answer.json() == []


def test_series_of_a_study_include_the_hubs_results(client, study: StoredStudy, tokens) -> None:
    found = search(client, f"/studies/{study.study}/series", tokens.full)
    by_uid = {value(item, "0020000E"): item for item in found}
    assert set(by_uid) == {study.ct_series, study.seg_series, study.sr_series}
    assert value(by_uid[study.ct_series], "00080060") == "CT"
    assert value(by_uid[study.ct_series], "00201209") == len(study.ct_uids)
    assert value(by_uid[study.seg_series], "00080060") == "SEG"
    assert value(by_uid[study.seg_series], "00201209") == 1
    assert value(by_uid[study.sr_series], "00080060") == "SR"
    for item in found:
        assert value(item, "0020000D") == study.study
    only_seg = search(client, f"/studies/{study.study}/series", tokens.full, Modality="SEG")
    assert [value(item, "0020000E") for item in only_seg] == [study.seg_series]


def test_series_search_across_studies_returns_study_attributes(client, study, tokens) -> None:
    found = search(client, "/series", tokens.full, Modality="CT")
    assert len(found) == 1
    assert value(found[0], "00100010") == {"Alphabetic": "Doe^Phantom"}
    assert value(found[0], "0008103E") == "Phantom CT"
    assert not search(client, "/series", tokens.full, SeriesDescription="nothing*")
    assert search(client, "/series", tokens.full, SeriesDescription="phantom*")


def test_instance_searches(client, study: StoredStudy, tokens) -> None:
    found = search(client, f"/studies/{study.study}/series/{study.ct_series}/instances",
                   tokens.full)
    assert sorted(value(item, "00080018") for item in found) == sorted(study.ct_uids)
    assert {value(item, "00080016") for item in found} == {CT_IMAGE}
    assert all(value(item, "00280010") == 64 for item in found)  # Rows
    numbered = search(client, f"/studies/{study.study}/series/{study.ct_series}/instances",
                      tokens.full, InstanceNumber="3")
    assert len(numbered) == 1
    in_study = search(client, f"/studies/{study.study}/instances", tokens.full,
                      SOPClassUID=SEG_STORAGE)
    assert [value(item, "00080018") for item in in_study] == [study.seg_uid]
    everywhere = search(client, "/instances", tokens.full, Modality="SR")
    assert [value(item, "00080018") for item in everywhere] == [study.sr_uid]
    assert value(everywhere[0], "00080016").startswith(SR_STORAGE_PREFIX)


def test_limit_offset_and_includefield(client, study: StoredStudy, tokens) -> None:
    path = f"/studies/{study.study}/series/{study.ct_series}/instances"
    every = [value(i, "00080018") for i in search(client, path, tokens.full)]
    page = [value(i, "00080018") for i in search(client, path, tokens.full, limit=3, offset=2)]
    assert page == every[2:5]
    filtered = search(client, path, tokens.full, limit=2, offset=1, ImageType="ORIGINAL*")
    assert [value(i, "00080018") for i in filtered] == every[1:3]
    plain = search(client, "/studies", tokens.full)[0]
    assert "00181030" not in plain and "00100030" in plain
    included = search(client, "/studies", tokens.full, includefield="00200010,PatientAge")[0]
    assert "00200010" in included
    every_attribute = search(client, path, tokens.full, includefield="all", limit=1)[0]
    assert value(every_attribute, "00200032") is not None  # ImagePositionPatient
    assert "7FE00010" not in every_attribute


def test_bad_query_parameters_are_400(client, study: StoredStudy, tokens) -> None:
    for params in ({"NotAKeyword": "x"}, {"limit": "-1"}, {"offset": "many"},
                   {"includefield": "Nope"}):
        answer = client.get("/dicomweb/studies", params=params, headers=tokens.full)
        assert answer.status_code == 400, params
        assert answer.headers["content-type"] == "application/problem+json"
    bad_uid = client.get("/dicomweb/studies/1.2.x/series", headers=tokens.full)
    assert bad_uid.status_code == 400


def test_unsupported_relational_key_is_ignored_with_a_warning(client, study, tokens) -> None:
    answer = client.get("/dicomweb/studies", params={"SOPInstanceUID": "1.2.3"},
                        headers=tokens.full)
    assert answer.status_code == 200 and len(answer.json()) == 1
    assert answer.headers["warning"].startswith("299 ")


def test_search_needs_a_token_with_view_studies(client, study: StoredStudy, tokens) -> None:
    anonymous = client.get("/dicomweb/studies")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get("/dicomweb/studies", headers={"Authorization": "Bearer phub_nope"})
    assert wrong.status_code == 401
    forbidden = client.get("/dicomweb/studies", headers=tokens.infer_only)
    assert forbidden.status_code == 403
    assert forbidden.json()["permission"] == "view_studies"
    assert client.get("/dicomweb/studies", headers=tokens.read).status_code == 200
