"""Q/R finding over the index and stored headers, without the network (hub.dimse.qr_query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)
from qr_helpers import Store, fill_store

from hub.dimse.qr_identifier import QueryError, parse_query
from hub.dimse.qr_query import find, instances_of

STUDY_ROOT = str(StudyRootQueryRetrieveInformationModelFind)
PATIENT_ROOT = str(PatientRootQueryRetrieveInformationModelFind)


@pytest.fixture
def store(index_tables: None, tmp_path: Path) -> Store:
    """Studies A (CT + result SR) and B (RLE MR) stored in this test's DATA_DIR."""
    return fill_store(tmp_path)


def identifier(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def search(level: str, root: str = STUDY_ROOT, **keys: object) -> list[Dataset]:
    return [m.identifier for m in find(parse_query(identifier(level, **keys), root,
                                                   ae_title="QRHUB"))]


def test_study_level_counts_modalities_and_header_keys(store: Store):
    found = search("STUDY", StudyInstanceUID="", PatientName="", StudyDate="",
                   StudyDescription="", ModalitiesInStudy="", NumberOfStudyRelatedSeries="",
                   NumberOfStudyRelatedInstances="", RetrieveAETitle="")
    by_uid = {str(ds.StudyInstanceUID): ds for ds in found}
    assert set(by_uid) == {store.a.study_uid, store.b.study_uid}
    a = by_uid[store.a.study_uid]
    assert list(a.ModalitiesInStudy) == ["CT", "SR"]  # the hub's result is included
    assert (a.NumberOfStudyRelatedSeries, a.NumberOfStudyRelatedInstances) == (2, 4)
    assert (str(a.PatientName), a.StudyDate, a.StudyDescription) == (
        "Doe^Phantom", "20240315", "Chest CT")
    assert a.RetrieveAETitle == "QRHUB" and a.QueryRetrieveLevel == "STUDY"


@pytest.mark.parametrize(("keys", "expected"), [
    ({"PatientName": "doe*"}, "a"),
    ({"PatientName": "D?e^PHANTOM"}, "a"),
    ({"StudyDate": "20250101-20251231"}, "b"),
    ({"StudyDate": "-20241231"}, "a"),
    ({"StudyDescription": "*MR"}, "b"),
    ({"ModalitiesInStudy": "SR"}, "a"),
    ({"ModalitiesInStudy": ["MR", "XA"]}, "b"),
    ({"AccessionNumber": "ACC*", "StudyDate": "20240315"}, "a"),
])
def test_study_level_matching(store: Store, keys: dict[str, object], expected: str):
    found = search("STUDY", StudyInstanceUID="", **keys)
    assert [str(ds.StudyInstanceUID) for ds in found] == [getattr(store, expected).study_uid]


def test_study_uid_list(store: Store):
    found = search("STUDY", StudyInstanceUID=[store.a.study_uid, store.b.study_uid, "1.2.3"])
    assert len(found) == 2
    assert search("STUDY", StudyInstanceUID="1.2.3") == []


def test_series_level_includes_results(store: Store):
    found = search("SERIES", StudyInstanceUID=store.a.study_uid, SeriesInstanceUID="",
                   Modality="", SeriesDescription="", SeriesNumber="",
                   NumberOfSeriesRelatedInstances="")
    rows = {str(ds.SeriesInstanceUID): ds for ds in found}
    assert set(rows) == {store.ct_series, store.result_series}
    assert rows[store.result_series].Modality == "SR"
    assert rows[store.result_series].SeriesDescription == "AI findings"
    assert rows[store.ct_series].NumberOfSeriesRelatedInstances == 3
    only_ct = search("SERIES", Modality="CT", SeriesDescription="Thorax*")
    assert [str(ds.SeriesInstanceUID) for ds in only_ct] == [store.ct_series]
    assert all(ds.StudyInstanceUID for ds in only_ct)  # the upper unique key is returned


def test_image_level_reads_each_header(store: Store):
    found = search("IMAGE", StudyInstanceUID=store.a.study_uid,
                   SeriesInstanceUID=store.ct_series, SOPInstanceUID="", InstanceNumber="")
    assert sorted(int(ds.InstanceNumber) for ds in found) == [1, 2, 3]
    assert {str(ds.SOPInstanceUID) for ds in found} == set(store.a.series[store.ct_series])
    two = search("IMAGE", SeriesInstanceUID=store.ct_series, InstanceNumber="2")
    assert len(two) == 1


def test_patient_root_patient_and_study_levels(store: Store):
    patients = search("PATIENT", PATIENT_ROOT, PatientName="R*", PatientID="",
                      NumberOfPatientRelatedStudies="", NumberOfPatientRelatedInstances="")
    assert [str(ds.PatientID) for ds in patients] == [store.b.patient_id]
    assert patients[0].NumberOfPatientRelatedStudies == 1
    assert patients[0].NumberOfPatientRelatedInstances == 2
    studies = search("STUDY", PATIENT_ROOT, PatientID=store.a.patient_id, StudyInstanceUID="")
    assert [str(ds.StudyInstanceUID) for ds in studies] == [store.a.study_uid]


def test_lower_level_keys_are_returned_empty(store: Store):
    found = search("STUDY", StudyInstanceUID=store.a.study_uid, SeriesDescription="nothing")
    assert len(found) == 1 and found[0].SeriesDescription in (None, "")


def test_retrieve_covers_instances(store: Store):
    move = str(StudyRootQueryRetrieveInformationModelMove)
    query = parse_query(identifier("STUDY", StudyInstanceUID=store.a.study_uid), move,
                        retrieve=True)
    uids = {i.sop_instance_uid for m in find(query, retrieve=True) for i in instances_of(m)}
    assert uids == store.a.sop_uids


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
@pytest.mark.parametrize(("level", "keys", "message"), [
    (None, {}, "QueryRetrieveLevel is missing"),
    ("FOO", {}, "QueryRetrieveLevel must be STUDY/SERIES/IMAGE"),
    ("PATIENT", {}, "QueryRetrieveLevel must be STUDY/SERIES/IMAGE"),
    ("STUDY", {"StudyDate": "last week"}, "StudyDate: 'last week' is not YYYYMMDD[-YYYYMMDD]"),
])
def test_bad_identifiers(level: str | None, keys: dict[str, object], message: str):
    ds = identifier(level, **keys) if level else Dataset()
    with pytest.raises(QueryError) as caught:
        parse_query(ds, STUDY_ROOT)
    assert caught.value.cause.startswith(message)
    assert len(caught.value.cause) <= 64 and 0xC000 <= caught.value.status <= 0xCFFF


def test_retrieve_needs_the_unique_key():
    move = str(StudyRootQueryRetrieveInformationModelMove)
    with pytest.raises(QueryError, match="a SERIES retrieve needs SeriesInstanceUID"):
        parse_query(identifier("SERIES", StudyInstanceUID="1.2.3"), move, retrieve=True)
