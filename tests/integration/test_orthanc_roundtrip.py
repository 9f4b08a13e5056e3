"""Orthanc as a real PACS: it pushes a CT study to ``pacs-hub up``; the hub completes the
series, routes it to ct-lung-seg, runs it in its worker and sends the SEG and SR back to
Orthanc by C-STORE, exactly once, even when an admin runs the job a second time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import highdicom as hd
import pydicom

from hub.testing.net import free_port
from hub.testing.validators import require_tool

PACS_HUB = str(Path(sys.executable).with_name("pacs-hub"))
#: A name that must never reach the hub's logs.
PATIENT_NAME = "Roundtrip^Quintessa"

CONFIG = """
series_quiet_seconds = 3

[dicom]
require_known_callers = true
release_grace_seconds = 0.5

[jobs]
concurrency = 1

[outbox]
backoff = 0.5

[[peers]]
name = "pacs"
ae_title = "ORTHANC"
host = "127.0.0.1"
port = {orthanc_port}

[[routes]]
name = "ct-chest"
match = {{ Modality = "CT" }}
models = ["ct-lung-seg"]
send_to = ["pacs"]
"""


def _hub_env(tmp_path: Path, dicom_port: int, orthanc_port: int) -> dict[str, str]:
    config = tmp_path / "hub.toml"
    config.write_text(CONFIG.format(orthanc_port=orthanc_port))
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_BROKER_URL")
    }
    env.update(
        PACS_HUB_DATA_DIR=str(tmp_path / "hub-data"), PACS_HUB_CONFIG=str(config),
        PACS_HUB_HTTP_PORT=str(free_port()), PACS_HUB_DICOM_PORT=str(dicom_port),
        PACS_HUB_LOG_LEVEL="INFO",
    )
    return env


def _hub(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PACS_HUB, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait(predicate, timeout: float, what: str, diagnose=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s\n{diagnose()}")


def _result_instances(pacs, study_id: str) -> dict[str, list[str]]:
    """SOP Instance UIDs Orthanc holds per modality (SEG, SR) in the study."""
    found: dict[str, list[str]] = {}
    for series in pacs.series(study_id):
        modality = series["MainDicomTags"].get("Modality", "")
        for instance in pacs.instances(series["ID"]):
            found.setdefault(modality, []).append(instance["MainDicomTags"]["SOPInstanceUID"])
    return found


def test_orthanc_pushes_a_study_and_gets_seg_and_sr_back_exactly_once(tmp_path):
    require_tool("Orthanc")
    from hub.testing.orthanc import running_orthanc

    dicom_port = free_port()
    ct = tmp_path / "ct"
    subprocess.run(
        [PACS_HUB, "phantom", str(ct), "--slices", "12", "--size", "64"],
        check=True, capture_output=True,
    )
    for path in ct.iterdir():  # a distinctive name, to check the logs for it afterwards
        ds = pydicom.dcmread(path)
        ds.PatientName = PATIENT_NAME
        ds.save_as(path)
    source_series = pydicom.dcmread(next(ct.iterdir())).SeriesInstanceUID

    hub_modality = {"hub": ("PACSHUB", "127.0.0.1", dicom_port)}
    with running_orthanc(tmp_path / "orthanc", modalities=hub_modality) as pacs:
        env = _hub_env(tmp_path, dicom_port, pacs.dicom_port)
        log_path = tmp_path / "up.log"
        with log_path.open("w") as log:
            up = subprocess.Popen(
                [PACS_HUB, "up"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
            )
        try:
            _wait(lambda: "pacs-hub is up" in log_path.read_text(), 120, "hub up",
                  log_path.read_text)
            for path in sorted(ct.iterdir()):
                pacs.upload(path)
            (study,) = pacs.studies()
            pacs.echo("hub")
            pacs.store_to("hub", study["ID"])

            def diagnose() -> str:
                return (_hub(env, "jobs", "list") + _hub(env, "outbox", "list")
                        + log_path.read_text()[-4000:])

            results = _wait(
                lambda: (r := _result_instances(pacs, study["ID"])).get("SEG")
                and r.get("SR") and r,
                180, "SEG and SR back in Orthanc", diagnose,
            )
            assert len(results["SEG"]) == 1 and len(results["SR"]) == 1, results
            assert len(results["CT"]) == 12

            # what arrived references the source: SEG -> CT series, SR -> SEG and CT
            seg_id = pacs.find("Instance", {"SOPInstanceUID": results["SEG"][0]}, False)[0]
            sr_id = pacs.find("Instance", {"SOPInstanceUID": results["SR"][0]}, False)[0]
            seg_path, sr_path = tmp_path / "seg.dcm", tmp_path / "sr.dcm"
            seg_path.write_bytes(pacs.file(seg_id))
            sr_path.write_bytes(pacs.file(sr_id))
            seg = hd.seg.segread(seg_path)
            assert seg.StudyInstanceUID == study["MainDicomTags"]["StudyInstanceUID"]
            assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source_series
            sr = pydicom.dcmread(sr_path)
            evidence = str(sr.CurrentRequestedProcedureEvidenceSequence)
            assert results["SEG"][0] in evidence and source_series in evidence

            # the routing decision is recorded and readable
            shown = json.loads(_hub(env, "series", "show", source_series, "--json"))
            assert "ct-chest" in json.dumps(shown)

            # an admin runs the job again with the route: same UIDs, still one copy each
            series_dir = (
                Path(env["PACS_HUB_DATA_DIR"]) / "instances"
                / study["MainDicomTags"]["StudyInstanceUID"] / source_series
            )
            job_id = _hub(
                env, "jobs", "submit", "--model", "ct-lung-seg", "--force",
                "--route", "ct-chest", str(series_dir),
            ).strip()

            def rerun_sent() -> bool:
                items = json.loads(_hub(env, "outbox", "list", "--json"))
                return any(
                    str(item["job"]) == job_id
                    and item["state"] == "sent" for item in items
                )

            _wait(rerun_sent, 120, "second delivery sent", diagnose)
            again = _result_instances(pacs, study["ID"])
            assert sorted(again["SEG"]) == sorted(results["SEG"]), again
            assert sorted(again["SR"]) == sorted(results["SR"]), again
        finally:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
    logged = log_path.read_text()
    assert "Quintessa" not in logged and "Roundtrip" not in logged
    assert up.returncode == 0, logged[-3000:]
