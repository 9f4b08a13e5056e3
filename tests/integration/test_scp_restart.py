"""A hub killed (SIGKILL) in the middle of a study and started again: every instance it
acknowledged is stored and indexed, and the series still completes and is routed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from hub.testing.dicom import write_series
from hub.testing.net import free_port

PACS_HUB = str(Path(sys.executable).with_name("pacs-hub"))


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_BROKER_URL")
    }
    env.update(
        PACS_HUB_DATA_DIR=str(tmp_path / "hub-data"), PACS_HUB_DICOM_PORT=str(port),
        # long enough that the partial series does not complete while the SCP restarts; the
        # association release (plus its short grace) completes it after the resend
        PACS_HUB_SERIES_QUIET_SECONDS="20",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PACS_HUB, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _start_scp(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        scp = subprocess.Popen([PACS_HUB, "scp"], env=env, stdout=out, stderr=subprocess.STDOUT)
    ae = AE(ae_title="RESTART")
    ae.add_requested_context("1.2.840.10008.1.1")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert scp.poll() is None, log.read_text()
        assoc = ae.associate("127.0.0.1", port, ae_title="PACSHUB")
        if assoc.is_established:
            assoc.release()
            return scp
        time.sleep(0.2)
    raise AssertionError("the SCP did not start:\n" + log.read_text())


def _wait_complete(env: dict[str, str], series_uid: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    info: dict = {}
    while time.monotonic() < deadline:
        info = json.loads(_cli(env, "series", "show", series_uid, "--json"))
        if info["state"] == "complete":
            return info
        time.sleep(0.5)
    raise AssertionError(f"series not complete after {timeout} s: {info}")


def _send(port: int, files: list[Path], acknowledged: list[str], stop: threading.Event) -> None:
    """Store ``files`` one by one; record the SOP Instance UIDs answered with Success."""
    ae = AE(ae_title="RESTART")
    ae.dimse_timeout = ae.network_timeout = 5  # notice the dead SCP quickly
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSHUB")
    if not assoc.is_established:
        return
    try:
        for path in files:
            if stop.is_set() or not assoc.is_established:
                break
            ds = pydicom.dcmread(path)
            try:
                status = assoc.send_c_store(ds)
            except RuntimeError:  # the association died with the SCP
                break
            if status and getattr(status, "Status", None) == 0x0000:
                acknowledged.append(ds.SOPInstanceUID)
    finally:
        if assoc.is_established:
            assoc.release()


def test_killed_hub_keeps_every_acknowledged_instance_and_still_routes(tmp_path):
    port = free_port()
    env = _env(tmp_path, port)
    _cli(env, "manage", "migrate")
    volume = (np.arange(60 * 128 * 128) % 2000 - 1000).reshape(60, 128, 128).astype(np.int16)
    files = write_series(volume, tmp_path / "ct", seed="restart")
    series_uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    log = tmp_path / "scp.log"

    scp = _start_scp(env, port, log)
    acknowledged: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=_send, args=(port, files, acknowledged, stop))
    sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 15 and time.monotonic() < deadline:
        time.sleep(0.01)
    scp.send_signal(signal.SIGKILL)  # mid-study: some stores in flight, no clean shutdown
    scp.wait(timeout=10)
    sender.join(timeout=60)
    assert 15 <= len(acknowledged) < len(files), len(acknowledged)

    scp = _start_scp(env, port, log)
    try:
        shown = json.loads(_cli(env, "series", "show", series_uid, "--json"))
        assert shown["instances"] >= len(acknowledged)
        data_dir = Path(env["PACS_HUB_DATA_DIR"])
        for uid in acknowledged:  # every acknowledged file is whole and readable
            matches = list((data_dir / "instances").rglob(f"{uid}.dcm"))
            assert len(matches) == 1, uid
            assert pydicom.dcmread(matches[0]).SOPInstanceUID == uid
        # the modality sends the whole study again (what a modality does after an error)
        rest: list[str] = []
        _send(port, files, rest, threading.Event())
        assert len(rest) == len(files)

        info = _wait_complete(env, series_uid)
        assert info["instances"] == len(files), info
        assert info["completion_run"] == 1, json.dumps(info, indent=1)
        assert [(job["model"].split("@")[0], job["trigger"]) for job in info["jobs"]] == [
            ("ct-lung-seg", "route")
        ]
    finally:
        scp.send_signal(signal.SIGTERM)
        scp.wait(timeout=30)


def test_series_pending_at_a_crash_is_completed_after_restart(tmp_path):
    port = free_port()
    env = _env(tmp_path, port)
    env["PACS_HUB_SERIES_QUIET_SECONDS"] = "4"
    env["PACS_HUB_CONFIG"] = str(tmp_path / "hub.toml")
    (tmp_path / "hub.toml").write_text("[dicom]\nrelease_grace_seconds = 30\n")
    _cli(env, "manage", "migrate")
    volume = np.zeros((8, 64, 64), dtype=np.int16)
    volume[:, 16:48, 16:48] = 40
    files = write_series(volume, tmp_path / "ct", seed="pending")
    series_uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    log = tmp_path / "scp.log"
    scp = _start_scp(env, port, log)
    acknowledged: list[str] = []
    _send(port, files, acknowledged, threading.Event())
    assert len(acknowledged) == len(files)
    scp.send_signal(signal.SIGKILL)  # before the quiet period ends: the series is pending
    scp.wait(timeout=10)
    assert json.loads(_cli(env, "series", "show", series_uid, "--json"))["state"] == "receiving"

    scp = _start_scp(env, port, log)
    try:
        info = _wait_complete(env, series_uid)
        assert info["instances"] == len(files) and info["completion_reason"] == "quiet"
        assert [job["model"].split("@")[0] for job in info["jobs"]] == ["ct-lung-seg"]
    finally:
        scp.send_signal(signal.SIGTERM)
        scp.wait(timeout=30)
