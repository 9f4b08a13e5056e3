"""Helpers of the web app tests: users per role, a stored study with an AI result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hub.sdk import CODES, UNITS, MeasurementSpec, ModelManifest, Result, SegmentSpec, TensorSpec

PASSWORD = "a-long-test-password-42"
ROLES = ("radiologist", "ml-engineer", "admin")
SHAPE = (4, 24, 32)


def lung_manifest() -> ModelManifest:
    """A two-segment lung model with a volume per segment (SEG + SR)."""
    return ModelManifest(
        name="ct-lung-seg",
        version="1.0.0",
        modalities=("CT",),
        model_file=Path("unused.onnx"),
        sha256="0" * 64,
        inputs=(TensorSpec("image", (None, 1, None, None)),),
        outputs=("SEG", "SR"),
        segments=(
            SegmentSpec(1, "Right lung", CODES["anatomical_structure"], CODES["lung"],
                        CODES["right"]),
            SegmentSpec(2, "Left lung", CODES["anatomical_structure"], CODES["lung"],
                        CODES["left"]),
        ),
        measurements=(
            MeasurementSpec("right_lung_volume", CODES["volume"], UNITS["ml"], segment_label=1),
            MeasurementSpec("left_lung_volume", CODES["volume"], UNITS["ml"], segment_label=2),
        ),
        description="Lung segmentation (UI test)",
    )


@dataclass
class Study:
    """A study stored through hub.storage, and (optionally) its succeeded job."""

    study_uid: str
    series_uid: str
    patient_name: str
    patient_id: str
    accession: str
    job: Any = None


def write_study(folder: Path, seed: str, patient: str = "Doe", modality: str = "CT",
                description: str = "Chest phantom", slices: int = SHAPE[0]
                ) -> tuple[list[Path], Study]:
    """Write a small series (files only) and describe its study."""
    import pydicom

    from hub.testing.dicom import write_series

    volume = np.full((slices, *SHAPE[1:]), -800.0, dtype=np.float32)
    paths = write_series(volume, folder / seed, modality=modality,  # type: ignore[arg-type]
                         seed=seed, patient=patient, series_description=description)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyDescription = description
        ds.save_as(path)
    header = pydicom.dcmread(paths[0], stop_before_pixels=True)
    study = Study(
        study_uid=str(header.StudyInstanceUID), series_uid=str(header.SeriesInstanceUID),
        patient_name=str(header.PatientName), patient_id=str(header.PatientID),
        accession=str(header.AccessionNumber),
    )
    return paths, study


def store(paths: list[Path]) -> None:
    """Store files through :func:`hub.storage.store.store_instance`, as the SCP does."""
    from hub.storage.store import store_instance

    for path in paths:
        store_instance(path.read_bytes(), calling_ae="CT01", called_ae="PACSHUB")


def store_study(folder: Path, seed: str, **options: Any) -> Study:
    """:func:`write_study` and :func:`store` it."""
    paths, study = write_study(folder, seed, **options)
    store(paths)
    return study


def result_fields(paths: list[Path], out_dir: Path) -> dict[str, Any]:
    """Real SEG/SR files for a series (written by the hub's writer) and the job fields."""
    from hub.inference.volume import load_series
    from hub.results.summary import findings_summary
    from hub.results.writer import write_results

    manifest = lung_manifest()
    series = load_series(paths, workers=1)
    labelmap = np.zeros(series.volume.shape, dtype=np.uint8)
    labelmap[:, 2:10, 2:12] = 1
    labelmap[:, 12:20, 16:28] = 2
    result = Result(labelmap=labelmap, measurements={
        "right_lung_volume": 1234.5, "left_lung_volume": 987.25})
    files = write_results(series, manifest, result, out_dir)
    return {
        "result": {
            "seg": {"uid": files.seg_uid, "path": str(files.seg_path)},
            "sr": {"uid": files.sr_uid, "path": str(files.sr_path)},
            **findings_summary(series, manifest, result, files),
        },
        "timings": {"load": 0.1, "inference": 0.5, "write": 0.2, "total": 0.8},
        "output_dir": str(out_dir),
    }


def add_job(study: Study, state: str = "succeeded", model: str = "ct-lung-seg",
            **fields: Any) -> Any:
    """A job row for ``study`` (the next run of ``model`` on its series)."""
    from hub.jobs.models import Job

    if state == "failed":
        fields.setdefault("error", "InferenceError: the model ran out of memory")
        fields.setdefault("error_kind", "InferenceError")
    run = Job.objects.filter(series_instance_uid=study.series_uid, model_name=model).count() + 1
    job = Job.objects.create(
        series_instance_uid=study.series_uid, study_instance_uid=study.study_uid,
        model_name=model, model_version="1.0.0", run=run,
        idempotency_key=Job.key_for(study.series_uid, model, "1.0.0", run),
        state=state, trigger=Job.Trigger.ROUTE, **fields,
    )
    study.job = job
    return job


def csrf_token(client: Any, path: str = "/tokens/") -> str:
    """GET ``path`` (a page with a form) and return the CSRF token it carries."""
    import re

    page = client.get(path)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, f"no CSRF token on {path} (status {page.status_code})"
    return match.group(1)


def is_login_redirect(response: Any, client: Any = None) -> bool:
    """True for a redirect to the login page (through the admin's own login URL with
    ``client``)."""
    if response.status_code != 302:
        return False
    location = response["Location"]
    if client is not None and location.startswith("/admin/login/"):
        return is_login_redirect(client.get(location))
    return location.startswith("/accounts/login/")
