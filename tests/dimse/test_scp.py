"""The SCP with dcmtk as a real modality: echo, a CT series, compressed files, re-sends.

Every test runs twice: storage associations served by the hub's store loop (the default) and
by pynetdicom (the path mixed query/retrieve associations take).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.sop_class import Verification
from scp_helpers import (
    HUB_AE,
    associate,
    echoscu,
    indexed_sop_uids,
    running_scp,
    spool_files,
    store_statuses,
    stored_files,
    storescu,
    wait_for,
)

from hub.dimse.scp import SCP
from hub.storage import files
from hub.testing.dicom import write_series


@pytest.fixture(params=["store-loop", "pynetdicom"])
def scp(index_tables: None, request: pytest.FixtureRequest) -> Iterator[SCP]:
    with running_scp(store_loop=request.param == "store-loop") as server:
        yield server


def ct_series(folder: Path, slices: int = 12, size: int = 64) -> list[Path]:
    volume = np.arange(slices * size * size, dtype=np.float64).reshape(slices, size, size) % 900
    return write_series(volume, folder, seed=f"scp-ct-{slices}", body_part="CHEST")


def test_echoscu_verifies_the_hub(scp: SCP):
    done = echoscu(scp.port)
    assert done.returncode == 0, done.stderr


def test_storescu_ct_series_is_stored_and_indexed(scp: SCP, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="hub.dimse")
    paths = ct_series(tmp_path / "ct")
    done = storescu(scp.port, paths)
    assert done.returncode == 0, done.stderr
    assert store_statuses(done.stdout + done.stderr) == [0] * len(paths)
    sent = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in paths}
    assert indexed_sop_uids() == set(sent)
    for path in stored_files():
        got = pydicom.dcmread(path)
        original = sent[str(got.SOPInstanceUID)]
        assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert got.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
        assert got.file_meta.MediaStorageSOPClassUID == original.SOPClassUID
        assert got.PixelData == original.PixelData
        assert got.PatientName == original.PatientName  # the file keeps what the index omits
    assert len(stored_files()) == len(paths)
    assert spool_files() == []
    from hub.storage.models import Series

    series = Series.objects.get()
    assert series.instance_count == len(paths)
    assert (series.calling_ae, series.called_ae) == ("STORESCU", HUB_AE)
    # the association's end reached series completion (hub.routing)
    assert wait_for(lambda: Series.objects.get().released_at is not None, timeout=5)
    assert wait_for(lambda: "released" in caplog.text)
    assert f"{len(paths)} stored" in caplog.text
    patient = str(next(iter(sent.values())).PatientName)
    assert patient not in caplog.text and patient.split("^")[0] not in caplog.text


def test_resend_is_idempotent(scp: SCP, tmp_path: Path):
    paths = ct_series(tmp_path / "ct", slices=4)
    for _ in range(2):
        done = storescu(scp.port, paths)
        assert store_statuses(done.stdout + done.stderr) == [0] * len(paths)
    from hub.storage.models import Series

    assert len(indexed_sop_uids()) == len(paths)
    assert len(stored_files()) == len(paths)
    assert Series.objects.get().instance_count == len(paths)


#: pydicom test files, one per transfer syntax the SCP accepts besides explicit LE, and the
#: storescu option that proposes that syntax (storescu proposes uncompressed ones otherwise).
COMPRESSED = {
    "MR_small_implicit.dcm": "-xi",  # implicit VR little endian
    "image_dfl.dcm": "-xd",  # deflated explicit VR little endian
    "SC_rgb_jpeg_dcmtk.dcm": "-xy",  # JPEG baseline
    "JPGExtended.dcm": "-xx",  # JPEG extended (12 bit)
    "SC_rgb_jpeg_gdcm.dcm": "-xs",  # JPEG lossless process 14, selection value 1
    "MR_small_jpeg_ls_lossless.dcm": "-xt",  # JPEG-LS lossless
    "JPEGLSNearLossless_16.dcm": "-xu",  # JPEG-LS near-lossless
    "MR_small_jp2klossless.dcm": "-xv",  # JPEG 2000 lossless
    "JPEG2000.dcm": "-xw",  # JPEG 2000
    "MR_small_RLE.dcm": "-xr",  # RLE lossless
}


def unique_copy(name: str, folder: Path) -> Path:
    """The pydicom test file with its own UIDs (test files share some), pixel data untouched."""
    source = get_testdata_file(name, download=False)
    if source is None:
        pytest.skip(f"pydicom test file {name} is not installed")
    ds = pydicom.dcmread(source)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        if keyword not in ds:
            setattr(ds, keyword, generate_uid())
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("name", sorted(COMPRESSED))
def test_compressed_files_are_stored_as_sent(scp: SCP, tmp_path: Path, name: str):
    path = unique_copy(name, tmp_path / "in")
    done = storescu(scp.port, [path], "-R", COMPRESSED[name])
    assert store_statuses(done.stdout + done.stderr) == [0], done.stdout[-2000:]
    sent = pydicom.dcmread(path)
    (stored,) = stored_files()
    got = pydicom.dcmread(stored)
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert got.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
    assert got.PixelData == sent.PixelData
    assert np.array_equal(got.pixel_array, sent.pixel_array)
    from hub.storage.models import Instance

    assert Instance.objects.get().transfer_syntax_uid == sent.file_meta.TransferSyntaxUID


def test_received_data_goes_to_the_spool_not_the_system_temp(scp: SCP, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    import tempfile

    from hub.dimse import receive

    created: list[Path] = []
    if scp.use_store_loop:
        opener = receive.open_spool_file

        def spy_loop() -> tuple[int, Path]:
            fd, path = opener()
            created.append(path)
            return fd, path

        monkeypatch.setattr(receive, "open_spool_file", spy_loop)
    else:
        original = receive._spool_named_temporary_file

        def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            handle = original(*args, **kwargs)
            created.append(Path(handle.name))
            return handle

        monkeypatch.setattr(receive, "_spool_named_temporary_file", spy)
        receive.receive_into_spool()  # installs the spy
        receive.stop_receiving_into_spool()
    paths = ct_series(tmp_path / "ct", slices=2)
    storescu(scp.port, paths)
    assert len(created) == 2
    assert all(path.parent == files.spool_dir() for path in created)
    assert all(not path.is_relative_to(tempfile.gettempdir()) or
               path.is_relative_to(files.data_dir()) for path in created)
    assert len(indexed_sop_uids()) == 2


def test_accepted_sockets_have_nodelay(scp: SCP):
    assoc = associate(scp.port, [Verification])
    try:
        assert assoc.is_established
        assert wait_for(lambda: scp.active_associations == 1)
        if scp.use_store_loop:
            (loop,) = scp._loops_snapshot()
            sock = loop.sock
        else:
            (tracked,) = scp._snapshot()
            sock = tracked.assoc.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        assoc.release()


def test_aborted_association_still_reports_its_series(scp: SCP, tmp_path: Path):
    from pydicom.uid import CTImageStorage

    from hub.storage.models import Series

    (path,) = ct_series(tmp_path / "ct", slices=1)
    assoc = associate(scp.port, [CTImageStorage])
    rsp = assoc.send_c_store(path)
    assert rsp.Status == 0
    assoc.abort()
    assert wait_for(lambda: Series.objects.get().released_at is not None, timeout=5)
    assert wait_for(lambda: scp.active_associations == 0)


def test_stopping_the_last_scp_restores_pynetdicom(index_tables: None):
    from pynetdicom import _config, dimse_messages

    from hub.dimse import receive

    before = (_config.STORE_RECV_CHUNKED_DATASET, dimse_messages.NamedTemporaryFile)
    with running_scp():
        with running_scp():
            assert _config.STORE_RECV_CHUNKED_DATASET is True
        assert dimse_messages.NamedTemporaryFile is receive._spool_named_temporary_file
    assert (_config.STORE_RECV_CHUNKED_DATASET, dimse_messages.NamedTemporaryFile) == before
