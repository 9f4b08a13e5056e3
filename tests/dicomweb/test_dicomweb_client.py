"""dicomweb-client (PyPI, over requests) against the hub under uvicorn on 127.0.0.1.

Search studies and series (ModalitiesInStudy and the counts OHIF needs), retrieve metadata,
frames and instances (the SEG whole, as OHIF does), STOW a series; what comes back is what
was stored, pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from dicomweb_helpers import LiveServer, StoredStudy

from hub.testing.dicom import uid_from
from hub.testing.series import synthetic_ct_series


@pytest.fixture
def hub(study: StoredStudy, tokens) -> Iterator[DICOMwebClient]:
    with LiveServer() as server:
        yield DICOMwebClient(url=f"{server.url}/dicomweb", headers=dict(tokens.full))


def reachable(uri: str, hub: DICOMwebClient) -> str:
    """``uri`` with the client's port: dicomweb-client sends ``Host`` without the port
    (``headers['Host'] = self.host``), so the absolute URIs the hub builds from it lack it."""
    return uri.replace(f"://{hub.host}/", f"://{hub.host}:{hub.port}/", 1)


def test_search_studies_and_series(hub: DICOMwebClient, study: StoredStudy) -> None:
    studies = hub.search_for_studies(search_filters={"PatientName": "doe*"})
    assert len(studies) == 1
    found = pydicom.Dataset.from_json(studies[0])
    assert found.StudyInstanceUID == study.study
    assert list(found.ModalitiesInStudy) == ["CT", "SEG", "SR"]
    assert found.NumberOfStudyRelatedSeries == 3
    assert found.NumberOfStudyRelatedInstances == len(study.ct_uids) + 2
    assert hub.search_for_studies(search_filters={"StudyDate": "19990101-19991231"}) == []
    series = [pydicom.Dataset.from_json(s) for s in hub.search_for_series(study.study)]
    counts = {s.SeriesInstanceUID: (s.Modality, s.NumberOfSeriesRelatedInstances)
              for s in series}
    assert counts == {study.ct_series: ("CT", len(study.ct_uids)),
                      study.seg_series: ("SEG", 1), study.sr_series: ("SR", 1)}
    instances = hub.search_for_instances(study.study, study.ct_series, get_remaining=True)
    assert len(instances) == len(study.ct_uids)


def test_metadata_frames_and_instances_match_what_was_stored(
    hub: DICOMwebClient, study: StoredStudy
) -> None:
    metadata = hub.retrieve_series_metadata(study.study, study.ct_series)
    assert len(metadata) == len(study.ct_uids)
    first = pydicom.Dataset.from_json(metadata[0], bulk_data_uri_handler=lambda *a: None)
    uid = str(first.SOPInstanceUID)
    expected = study.pixels(uid)
    (frame,) = hub.retrieve_instance_frames(study.study, study.ct_series, uid, [1])
    assert np.array_equal(np.frombuffer(frame, np.int16).reshape(expected.shape), expected)
    bulk_uri = metadata[0]["7FE00010"]["BulkDataURI"]
    assert bulk_uri.endswith(f"/instances/{uid}/bulkdata/7FE00010")
    (bulk,) = hub.retrieve_bulkdata(reachable(bulk_uri, hub))
    assert bulk == frame
    instance = hub.retrieve_instance(study.study, study.ct_series, uid)
    assert np.array_equal(instance.pixel_array, expected)
    assert instance.PatientName == "Doe^Phantom"
    (seg,) = hub.retrieve_series(study.study, study.seg_series)
    assert seg.SOPInstanceUID == study.seg_uid
    assert np.array_equal(seg.pixel_array, study.pixels(study.seg_uid))
    sr_metadata = hub.retrieve_instance_metadata(study.study, study.sr_series, study.sr_uid)
    assert pydicom.Dataset.from_json(sr_metadata).ContentSequence
    whole = hub.retrieve_study(study.study)
    assert {str(ds.SOPInstanceUID) for ds in whole} == set(study.by_uid)


def test_stow_a_series_then_read_it_back(hub: DICOMwebClient, study: StoredStudy,
                                         tmp_path) -> None:
    synthetic_ct_series(tmp_path / "new", slices=4, size=32, seed=7, order="sorted")
    datasets = [pydicom.dcmread(p) for p in sorted((tmp_path / "new").glob("*.dcm"))]
    for ds in datasets:  # file it under the stored study, as a new series
        ds.StudyInstanceUID = study.study
        ds.SeriesInstanceUID = uid_from("stowed-series")
    response = hub.store_instances(datasets, study_instance_uid=study.study)
    assert len(response.ReferencedSOPSequence) == len(datasets)
    assert "FailedSOPSequence" not in response
    series = hub.search_for_series(study.study, search_filters={
        "SeriesInstanceUID": str(uid_from("stowed-series"))})
    assert pydicom.Dataset.from_json(series[0]).NumberOfSeriesRelatedInstances == 4
    for ds in datasets:
        back = hub.retrieve_instance(study.study, str(ds.SeriesInstanceUID),
                                     str(ds.SOPInstanceUID))
        assert np.array_equal(back.pixel_array, ds.pixel_array)
    studies = hub.search_for_studies()
    assert pydicom.Dataset.from_json(studies[0]).NumberOfStudyRelatedSeries == 4
