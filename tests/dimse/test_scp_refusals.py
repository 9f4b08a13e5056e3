"""Bad input to the SCP: each gets the status or association result a peer expects, and
nothing is written (no index row, no file, no spool leftover)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)
from pynetdicom.sop_class import Verification
from scp_helpers import (
    HUB_AE,
    associate,
    chunked_send,
    configure,
    echoscu,
    error_comments,
    indexed_sop_uids,
    min_free_mb_unreachable,
    nothing_written,
    running_scp,
    status_of,
    store_statuses,
    storescu,
)

from hub.dimse import receive
from hub.dimse.access import access_refusal
from hub.dimse.scp import SCP
from hub.settings import get_settings

PEERS = [{"name": "ct", "ae_title": "CT01", "host": "127.0.0.1", "port": 104}]


def ct_instance(**overrides: object) -> Dataset:
    """A small CT image; ``None`` removes an attribute."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-1"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.zeros((8, 8), dtype=np.int16).tobytes()
    for keyword, value in overrides.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = overrides.get("SOPInstanceUID") or (
        ds.get("SOPInstanceUID") or generate_uid()
    )
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """``ds`` as a Part-10 file, its File Meta written as it is (even when it lies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.preamble = b"\x00" * 128
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.save_as(path, enforce_file_format=False)
    return path


# -- association level -----------------------------------------------------------------------


def test_unknown_called_ae_is_rejected(index_tables: None):
    with running_scp() as scp:
        done = echoscu(scp.port, called="NOTTHEHUB")
    assert done.returncode != 0
    assert "Called AE Title Not Recognized" in done.stderr + done.stdout
    assert nothing_written()


def test_unknown_caller_is_rejected_when_known_callers_are_required(index_tables: None):
    with running_scp(peers=PEERS, dicom={"require_known_callers": True}) as scp:
        stranger = echoscu(scp.port, calling="STRANGER")
        known = echoscu(scp.port, calling="CT01")
    assert stranger.returncode != 0
    assert "Calling AE Title Not Recognized" in stranger.stderr + stranger.stdout
    assert known.returncode == 0, known.stderr


def test_unknown_caller_may_store_when_callers_are_not_restricted(index_tables: None):
    with running_scp(peers=PEERS) as scp:
        assert echoscu(scp.port, calling="STRANGER").returncode == 0


def test_access_refusal_reasons(database: str):
    configure(peers=PEERS, dicom={"require_known_callers": True})
    settings = get_settings()
    assert access_refusal(HUB_AE, "CT01", settings) is None
    assert access_refusal("OTHER", "CT01", settings).rsd == (1, 1, 7)  # type: ignore[union-attr]
    assert access_refusal(HUB_AE, "X", settings).rsd == (1, 1, 3)  # type: ignore[union-attr]


def test_watermark_rejects_associations(index_tables: None):
    with running_scp(storage={"min_free_mb": min_free_mb_unreachable()}) as scp:
        done = echoscu(scp.port)
    assert done.returncode != 0
    output = done.stderr + done.stdout
    assert "Local Limit Exceeded" in output and "Transient" in output, output


def test_watermark_reached_mid_association_answers_out_of_resources(index_tables: None):
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage])
        assert assoc.is_established
        try:
            configure(storage={"min_free_mb": min_free_mb_unreachable()})
            rsp = assoc.send_c_store(ct_instance())
        finally:
            assoc.release()
    assert status_of(rsp) == receive.OUT_OF_RESOURCES
    assert "disk space" in rsp.ErrorComment
    assert nothing_written()


# -- C-STORE level -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uid", ["1.2.3/../../4", "1.2.3..4", "..", "1.2.3.04", "1.2." + "3" * 62]
)
def test_invalid_sop_instance_uid_is_refused_and_not_written(
    index_tables: None, tmp_path: Path, uid: str
):
    path = write(ct_instance(SOPInstanceUID=uid), tmp_path / "bad.dcm")
    good = write(ct_instance(), tmp_path / "good.dcm")
    with running_scp() as scp:
        done = storescu(scp.port, [path, good], "--no-halt")
    output = done.stdout + done.stderr
    # the peer sees a failure for the bad one, and the next instance is still stored
    assert store_statuses(output) == [receive.CANNOT_UNDERSTAND, 0], output[-3000:]
    assert error_comments(output)[0] == "invalid SOPInstanceUID"
    assert indexed_sop_uids() == {str(pydicom.dcmread(good).SOPInstanceUID)}
    from hub.storage import files

    assert not list((files.data_dir() / "instances").rglob("*..*"))


@pytest.mark.parametrize("missing", ["StudyInstanceUID", "SeriesInstanceUID"])
def test_missing_study_or_series_uid_is_refused(index_tables: None, missing: str):
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage])
        try:
            rsp = assoc.send_c_store(ct_instance(**{missing: None}))
        finally:
            assoc.release()
    assert status_of(rsp) == receive.DOES_NOT_MATCH
    assert rsp.ErrorComment == f"missing {missing}"
    assert nothing_written()


def test_missing_sop_instance_uid_is_refused(index_tables: None, tmp_path: Path):
    # the request names an instance (from the file meta) but the data set has no SOPInstanceUID
    path = write(ct_instance(SOPInstanceUID=None), tmp_path / "nosop.dcm")
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage])
        try:
            with chunked_send():
                rsp = assoc.send_c_store(path)
        finally:
            assoc.release()
    assert status_of(rsp) == receive.DOES_NOT_MATCH
    assert rsp.ErrorComment == "missing SOPInstanceUID"
    assert nothing_written()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "SOPClassUID"])
def test_data_set_contradicting_the_request_is_refused(
    index_tables: None, tmp_path: Path, syntax: str, keyword: str
):
    # the request's UIDs come from the file meta; the data set says something else
    ds = ct_instance()
    ds.file_meta.TransferSyntaxUID = syntax
    if keyword == "SOPInstanceUID":
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    else:
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    path = write(ds, tmp_path / "liar.dcm")
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage, MRImageStorage], transfer_syntax=[syntax])
        try:
            with chunked_send():
                rsp = assoc.send_c_store(path)
        finally:
            assoc.release()
    assert status_of(rsp) == receive.DOES_NOT_MATCH
    assert rsp.ErrorComment == f"{keyword} differs from the request"
    assert nothing_written()


def test_request_check_leaves_unreadable_files_to_storage(tmp_path: Path):
    request = receive.Request(CTImageStorage, "1.2.3", ExplicitVRLittleEndian)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not dicom at all")
    assert receive.request_mismatch(garbage, request) == ""
    assert receive.request_mismatch(tmp_path / "missing", request) == ""
    deflated = receive.Request(CTImageStorage, "1.2.3", DeflatedExplicitVRLittleEndian)
    assert receive.request_mismatch(garbage, deflated) == ""


def test_storage_failure_answers_a_failure_never_success(
    index_tables: None, monkeypatch: pytest.MonkeyPatch
):
    from hub.storage.errors import StorageError

    def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("disk on fire", "call the fire brigade")

    monkeypatch.setattr(receive, "store_instance", broken)
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage])
        try:
            failed = assoc.send_c_store(ct_instance())
            monkeypatch.setattr(receive, "store_instance", lambda *a, **k: 1 / 0)
            crashed = assoc.send_c_store(ct_instance())
        finally:
            assoc.release()
    assert status_of(failed) == receive.NOT_STORED
    assert status_of(crashed) == receive.INTERNAL_ERROR
    assert nothing_written()


def test_echo_works_after_refused_stores(index_tables: None):
    with running_scp() as scp:
        assoc = associate(scp.port, [CTImageStorage, Verification])
        try:
            rsp = assoc.send_c_store(ct_instance(StudyInstanceUID=None))
            echo = assoc.send_c_echo()
        finally:
            assoc.release()
    assert status_of(rsp) == receive.DOES_NOT_MATCH
    assert status_of(echo) == 0


def test_scp_object_port_requires_start():
    with pytest.raises(RuntimeError):
        _ = SCP(port=0).port
