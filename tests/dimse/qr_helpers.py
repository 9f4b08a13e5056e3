"""Test data for the Query/Retrieve tests: two studies (one with a hub result) in the store.

* study A: patient ``Doe^Phantom``, 2024-03-15, "Chest CT": a 3-slice CT series and an SR
  stored with ``source="result"`` (as the hub files its own results);
* study B: patient ``Roe^Phantom``, 2025-06-20, "Brain MR": a 2-slice MR series stored RLE
  compressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from hub.storage.store import store_instance
from hub.testing.dicom import uid_from, write_series

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
