"""Test data for the Query/Retrieve tests: two studies (one with a hub result) in the store.

* study A: patient ``Doe^Phantom``, 2024-03-15, "Chest CT": a 3-slice CT series and an SR
  stored with ``source="result"`` (as the hub files its own results);
* study B: patient ``Roe^Phantom``, 2025-06-20, "Brain MR": a 2-slice MR series stored RLE
  compressed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from hub.dimse.qr import add_qr_contexts, qr_handlers
from hub.settings import override_settings
from hub.storage.store import store_instance
from hub.testing.dicom import uid_from, write_series
from hub.testing.net import free_port
from hub.testing.validators import require_tool

#: The hub's AE title in these tests, a known peer allowed to query, and the move destination.
HUB_AE = "QRHUB"
VIEWER_AE = "VIEWER"
DEST_AE = "DEST"

#: Comprehensive 3D SR, as the hub writes its TID 1500 results.
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


@dataclass
class Study:
    """What was stored for one test study."""

    study_uid: str
    patient_id: str
    series: dict[str, list[str]] = field(default_factory=dict)  # series UID -> SOP UIDs
    pixels: dict[str, bytes] = field(default_factory=dict)  # SOP UID -> decoded pixel bytes

    @property
    def sop_uids(self) -> set[str]:
        """Every SOP Instance UID of the study."""
        return {uid for uids in self.series.values() for uid in uids}


@dataclass
class Store:
    """The two stored test studies."""

    a: Study
    b: Study
    ct_series: str
    result_series: str
    mr_series: str


def _store_series(folder: Path, study: Study, *, modality: str, seed: str, n: int,
                  compress: bool, patient: str, date: str, description: str,
                  series_description: str) -> str:
    volume = np.arange(n * 8 * 8, dtype=np.float64).reshape(n, 8, 8) + (0 if modality == "MR"
                                                                       else -500)
    paths = write_series(volume, folder, modality=modality,  # type: ignore[arg-type]
                         seed=seed, compress=compress, patient=patient,
                         series_description=series_description)
    series_uid = ""
    for path in paths:
        ds = dcmread(path)
        ds.StudyDate = date
        ds.StudyDescription = description
        study.pixels[str(ds.SOPInstanceUID)] = ds.pixel_array.tobytes()
        stored = store_instance(ds, calling_ae="MODALITY", called_ae="QRHUB")
        series_uid = stored.series_instance_uid
        study.series.setdefault(series_uid, []).append(stored.sop_instance_uid)
    return series_uid


def _result_sr(source: Path, study: Study) -> str:
    """Store an SR in study A with ``source="result"`` (as the outbox files hub results)."""
    header = dcmread(source, stop_before_pixels=True)
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                    "StudyID", "ReferringPhysicianName", "StudyDescription"):
        if keyword in header:
            setattr(ds, keyword, header.get(keyword))
    ds.SOPClassUID = COMPREHENSIVE_3D_SR
    ds.SeriesInstanceUID = uid_from("qr-result/series")
    ds.SOPInstanceUID = uid_from("qr-result/instance")
    ds.Modality = "SR"
    ds.SeriesNumber = 900
    ds.SeriesDescription = "AI findings"
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    stored = store_instance(ds, source="result")
    study.series[stored.series_instance_uid] = [stored.sop_instance_uid]
    return stored.series_instance_uid


def fill_store(tmp_path: Path) -> Store:
    """Store study A (CT + result SR) and study B (RLE MR); returns their UIDs."""
    a = Study(study_uid=str(uid_from("qr-a/study")), patient_id="")
    ct = _store_series(tmp_path / "a", a, modality="CT", seed="qr-a", n=3, compress=False,
                       patient="Doe", date="20240315", description="Chest CT",
                       series_description="Thorax 1mm")
    first_ct = sorted((tmp_path / "a").iterdir())[0]
    a.patient_id = str(dcmread(first_ct, stop_before_pixels=True).PatientID)
    result = _result_sr(first_ct, a)
    b = Study(study_uid=str(uid_from("qr-b/study")), patient_id="")
    mr = _store_series(tmp_path / "b", b, modality="MR", seed="qr-b", n=2, compress=True,
                       patient="Roe", date="20250620", description="Brain MR",
                       series_description="T1 3D")
    b.patient_id = str(dcmread(sorted((tmp_path / "b").iterdir())[0],
                               stop_before_pixels=True).PatientID)
    return Store(a=a, b=b, ct_series=ct, result_series=result, mr_series=mr)


def configure_peers(destination_port: int = 104) -> None:
    """Settings: our AE title, VIEWER (a known caller) and DEST (the C-MOVE destination)."""
    override_settings(ae_title=HUB_AE, peers=[
        {"name": "viewer", "ae_title": VIEWER_AE, "host": "127.0.0.1", "port": 104},
        {"name": "dest", "ae_title": DEST_AE, "host": "127.0.0.1", "port": destination_port},
    ])


@contextmanager
def qr_server() -> Iterator[int]:
    """A minimal AE with Verification and the Q/R contexts and handlers; yields its port."""
    ae = AE(ae_title=HUB_AE)
    ae.add_supported_context(Verification)
    add_qr_contexts(ae)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=qr_handlers())
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"storescp exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("storescp did not start listening")


@contextmanager
def storescp(folder: Path, *options: str) -> Iterator[int]:
    """dcmtk ``storescp`` as DEST writing into ``folder``; yields its port."""
    tool = require_tool("storescp")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [tool, "-od", str(folder), "-aet", DEST_AE, *options, str(port)],
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool (TCP_NODELAY=1, debug output) and return what it printed."""
    tool = require_tool(name)
    return subprocess.run(
        [tool, "-d", *args], env={**os.environ, "TCP_NODELAY": "1"},
        capture_output=True, text=True, timeout=120, check=False,
    )


def received(folder: Path) -> dict[str, Dataset]:
    """The DICOM files in ``folder`` by SOP Instance UID."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            ds = dcmread(path)
            found[str(ds.SOPInstanceUID)] = ds
    return found
