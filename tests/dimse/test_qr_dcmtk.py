"""The Q/R SCP driven by dcmtk's findscu, movescu and getscu (a real viewer / PACS client).

The hub side is a minimal pynetdicom AE with the Q/R contexts and handlers
(:func:`hub.dimse.qr.add_qr_contexts`, :func:`hub.dimse.qr.qr_handlers`); the store holds
study A (CT + a hub result SR, ``source="result"``) and study B (RLE-compressed MR).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import RLELossless
from qr_helpers import (
    DEST_AE,
    HUB_AE,
    VIEWER_AE,
    Store,
    configure_peers,
    fill_store,
    qr_server,
    received,
    run_tool,
    storescp,
)


@pytest.fixture
def store(index_tables: None, tmp_path: Path) -> Store:
    """Studies A and B in this test's DATA_DIR and index."""
    return fill_store(tmp_path / "source")


@pytest.fixture
def hub(store: Store) -> Iterator[int]:
    """The Q/R AE's port (peers: VIEWER may query; DEST has no listener)."""
    configure_peers()
    with qr_server() as port:
        yield port


def findscu(port: int, out: Path, *keys: str, root: str = "-S",
            caller: str = VIEWER_AE) -> tuple[list, str]:
    """Run findscu; returns the response identifiers and its output."""
    out.mkdir(exist_ok=True)
    args = [a for key in keys for a in ("-k", key)]
    done = run_tool("findscu", root, "-aet", caller, "-aec", HUB_AE, "-X", "-od", str(out),
                    *args, "127.0.0.1", str(port))
    assert done.returncode == 0, done.stderr
    responses = [dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]
    return responses, done.stdout + done.stderr


def final_response(output: str) -> str:
    """The dump of the last response message in a dcmtk tool's debug output."""
    return output.rsplit("INCOMING DIMSE MESSAGE", 1)[-1]


def test_findscu_study_level_wildcard_and_date_range(hub: int, store: Store, tmp_path: Path):
    responses, _ = findscu(
        hub, tmp_path / "rsp", "QueryRetrieveLevel=STUDY", "StudyInstanceUID",
        "PatientName=doe*", "StudyDate=20240101-20241231", "StudyDescription",
        "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
    )
    assert len(responses) == 1
    study = responses[0]
    assert study.StudyInstanceUID == store.a.study_uid
    assert str(study.PatientName) == "Doe^Phantom" and study.StudyDate == "20240315"
    assert study.StudyDescription == "Chest CT"
    assert list(study.ModalitiesInStudy) == ["CT", "SR"]  # the hub's SR result is there
    assert (study.NumberOfStudyRelatedSeries, study.NumberOfStudyRelatedInstances) == (2, 4)


def test_no_patient_data_in_logs(hub: int, store: Store, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    responses, _ = findscu(hub, tmp_path / "rsp", "QueryRetrieveLevel=STUDY", "PatientID",
                           "PatientName=Doe*", "PatientBirthDate", "AccessionNumber")
    assert len(responses) == 1
    assert "C-FIND STUDY level (STUDY root) from VIEWER: 1 match(es)" in caplog.text
    for value in ("Doe", "Phantom", store.a.patient_id, str(responses[0].AccessionNumber)):
        assert value not in caplog.text


def test_malformed_birth_date_is_not_logged(hub: int, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    responses, output = findscu(hub, tmp_path / "rsp", "QueryRetrieveLevel=STUDY",
                                "PatientBirthDate=1970-05-17")
    assert responses == [] and "0xc000: Failed" in output
    assert "PatientBirthDate: '1970-05-17' is not YYYYMMDD[-YYYYMMDD]" in output  # to the peer
    assert "C-FIND from VIEWER refused: PatientBirthDate is malformed" in caplog.text
    assert "1970" not in caplog.text


def test_findscu_series_level_includes_results(hub: int, store: Store, tmp_path: Path):
    responses, _ = findscu(
        hub, tmp_path / "rsp", "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={store.a.study_uid}", "SeriesInstanceUID", "Modality",
        "SeriesDescription", "NumberOfSeriesRelatedInstances",
    )
    series = {str(ds.SeriesInstanceUID): ds for ds in responses}
    assert set(series) == {store.ct_series, store.result_series}
    assert series[store.result_series].Modality == "SR"
    assert series[store.ct_series].SeriesDescription == "Thorax 1mm"
    assert series[store.ct_series].NumberOfSeriesRelatedInstances == 3


def test_findscu_image_level(hub: int, store: Store, tmp_path: Path):
    responses, _ = findscu(
        hub, tmp_path / "rsp", "QueryRetrieveLevel=IMAGE",
        f"StudyInstanceUID={store.a.study_uid}", f"SeriesInstanceUID={store.ct_series}",
        "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
    )
    assert {str(ds.SOPInstanceUID) for ds in responses} == set(store.a.series[store.ct_series])
    assert sorted(int(ds.InstanceNumber) for ds in responses) == [1, 2, 3]


def test_findscu_patient_root(hub: int, store: Store, tmp_path: Path):
    patients, _ = findscu(
        hub, tmp_path / "patients", "QueryRetrieveLevel=PATIENT", "PatientName=R?e*",
        "PatientID", "NumberOfPatientRelatedStudies", root="-P",
    )
    assert [str(ds.PatientID) for ds in patients] == [store.b.patient_id]
    assert patients[0].NumberOfPatientRelatedStudies == 1
    studies, _ = findscu(
        hub, tmp_path / "studies", "QueryRetrieveLevel=STUDY",
        f"PatientID={store.b.patient_id}", "StudyInstanceUID", "StudyDate", root="-P",
    )
    assert [str(ds.StudyInstanceUID) for ds in studies] == [store.b.study_uid]


def test_findscu_unknown_caller_refused(hub: int, tmp_path: Path):
    responses, output = findscu(hub, tmp_path / "rsp", "QueryRetrieveLevel=STUDY",
                                "PatientName", caller="STRANGER")
    assert responses == []
    assert "0xc001: Failed" in output
    assert "calling AE STRANGER is not a known peer; add it to [[peers]]" in output


def test_findscu_without_level_fails(hub: int, tmp_path: Path):
    responses, output = findscu(hub, tmp_path / "rsp", "PatientName")
    assert responses == []
    assert "0xc000: Failed" in output and "QueryRetrieveLevel is missing" in output


@pytest.mark.parametrize("accept_compressed", [False, True])
def test_movescu_to_storescp(hub: int, store: Store, tmp_path: Path, accept_compressed: bool):
    options = ("+xa",) if accept_compressed else ()
    with storescp(tmp_path / "dest", *options) as dest_port:
        configure_peers(dest_port)
        done = run_tool("movescu", "-S", "-aet", VIEWER_AE, "-aem", DEST_AE, "-aec", HUB_AE,
                        "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"StudyInstanceUID={store.a.study_uid}\\{store.b.study_uid}",
                        "127.0.0.1", str(hub))
    assert done.returncode == 0, done.stdout + done.stderr
    got = received(tmp_path / "dest")
    assert set(got) == store.a.sop_uids | store.b.sop_uids
    for uid, pixels in {**store.a.pixels, **store.b.pixels}.items():
        assert np.asarray(got[uid].pixel_array).tobytes() == pixels  # intact
    mr_syntax = {str(got[uid].file_meta.TransferSyntaxUID) for uid in store.b.sop_uids}
    # storescp without +xa refuses RLE: the hub decompresses; with +xa it gets the file as is
    assert mr_syntax == ({RLELossless} if accept_compressed else mr_syntax - {RLELossless})
    final = final_response(done.stdout + done.stderr)
    assert "Completed Suboperations       : 6" in final and "0x0000: Success" in final


def test_movescu_unknown_destination(hub: int, store: Store, tmp_path: Path):
    with storescp(tmp_path / "dest") as dest_port:
        configure_peers(dest_port)
        done = run_tool("movescu", "-S", "-aet", VIEWER_AE, "-aem", "NOWHERE", "-aec", HUB_AE,
                        "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"StudyInstanceUID={store.a.study_uid}", "127.0.0.1", str(hub))
    output = done.stdout + done.stderr
    assert "0xa801: Refused: Move Destination unknown" in output
    assert "move destination NOWHERE unknown; add it to [[peers]]" in output
    assert received(tmp_path / "dest") == {}


def test_movescu_unknown_caller_refused(hub: int, store: Store, tmp_path: Path):
    with storescp(tmp_path / "dest") as dest_port:
        configure_peers(dest_port)
        done = run_tool("movescu", "-S", "-aet", "STRANGER", "-aem", DEST_AE, "-aec", HUB_AE,
                        "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"StudyInstanceUID={store.a.study_uid}", "127.0.0.1", str(hub))
    output = done.stdout + done.stderr
    assert "0xc001: Failed" in output and "is not a known peer" in output
    assert received(tmp_path / "dest") == {}


def test_getscu_study_and_series(hub: int, store: Store, tmp_path: Path):
    out = tmp_path / "get"
    out.mkdir()
    done = run_tool("getscu", "-S", "-aet", VIEWER_AE, "-aec", HUB_AE, "-od", str(out),
                    "-k", "QueryRetrieveLevel=STUDY",
                    "-k", f"StudyInstanceUID={store.a.study_uid}\\{store.b.study_uid}",
                    "127.0.0.1", str(hub))
    assert done.returncode == 0, done.stdout + done.stderr
    got = received(out)
    assert set(got) == store.a.sop_uids | store.b.sop_uids  # the result SR included
    for uid in store.b.sop_uids:  # getscu proposes uncompressed only: decompressed, intact
        assert np.asarray(got[uid].pixel_array).tobytes() == store.b.pixels[uid]
    series_out = tmp_path / "series"
    series_out.mkdir()
    done = run_tool("getscu", "-S", "-aet", VIEWER_AE, "-aec", HUB_AE, "-od", str(series_out),
                    "-k", "QueryRetrieveLevel=SERIES",
                    "-k", f"StudyInstanceUID={store.a.study_uid}",
                    "-k", f"SeriesInstanceUID={store.ct_series}", "127.0.0.1", str(hub))
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(received(series_out)) == set(store.a.series[store.ct_series])


def test_getscu_unknown_caller_refused(hub: int, store: Store, tmp_path: Path):
    out = tmp_path / "get"
    out.mkdir()
    done = run_tool("getscu", "-S", "-aet", "STRANGER", "-aec", HUB_AE, "-od", str(out),
                    "-k", "QueryRetrieveLevel=STUDY",
                    "-k", f"StudyInstanceUID={store.a.study_uid}", "127.0.0.1", str(hub))
    assert "0xc001: Failed" in done.stdout + done.stderr
    assert received(out) == {}
