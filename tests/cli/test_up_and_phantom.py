"""``pacs-hub up`` says what it started; ``pacs-hub phantom`` writes a loadable CT series."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hub.cli.main import main
from hub.inference import load_series
from hub.plugins.manager import reset_registry
from hub.settings import get_settings
from hub.testing.net import free_port


@pytest.fixture(autouse=True)
def _fresh_registry():
    reset_registry()
    yield
    reset_registry()


def test_up_check_reports_started_and_missing_parts(capsys):
    code = main(["up", "--check"])
    out = capsys.readouterr().out
    data_dir = get_settings().data_dir.resolve()
    assert f"data directory : {data_dir}" in out
    assert "started        : plugin registry (validated), data directory, database\n" in out
    assert "first admin" not in out  # --check creates nobody
    enabled = "models enabled : 0" not in out
    assert code == (0 if enabled else 1)


def _processes_with(marker: str) -> list[int]:
    """Our processes whose environment holds ``marker`` (the test's data directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_up_receives_routes_and_runs_until_ctrl_c(tmp_path):
    """``pacs-hub up`` prints the first admin's password once, starts worker, SCP and web app;
    a series sent by dcmtk's storescu is completed, routed to ct-lung-seg and run; a job
    submitted by hand runs too; SIGINT stops everything and leaves no process behind."""
    from hub.testing.validators import require_tool

    storescu = require_tool("storescu")
    data_dir = tmp_path / "hub-data"
    config = tmp_path / "hub.toml"
    config.write_text("[jobs]\nconcurrency = 1\n")
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_BROKER_URL")
    }
    http_port, dicom_port = free_port(), free_port()
    env.update(
        PACS_HUB_DATA_DIR=str(data_dir), PACS_HUB_CONFIG=str(config),
        PACS_HUB_HTTP_PORT=str(http_port), PACS_HUB_DICOM_PORT=str(dicom_port),
        PACS_HUB_SERIES_QUIET_SECONDS="2",
    )
    pacs_hub = str(Path(sys.executable).with_name("pacs-hub"))
    log = (tmp_path / "up.err").open("w")
    up = subprocess.Popen(
        [pacs_hub, "up"], env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("pacs-hub is up"):
                break
        out = "".join(lines)
        assert "pacs-hub is up" in out, out + (tmp_path / "up.err").read_text()
        assert "job worker (embedded broker, 1 processes)" in out
        assert f"DICOM SCP (AE PACSHUB on port {dicom_port})" in out
        assert f"web app on http://127.0.0.1:{http_port}" in out
        assert "first admin    : user 'admin', password " in out
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/health") as answer:
            assert json.loads(answer.read())["status"] == "ok"
        subprocess.run(
            [pacs_hub, "phantom", str(tmp_path / "ct"), "--slices", "8", "--size", "64"],
            env=env, check=True, capture_output=True,
        )
        submitted = subprocess.run(
            [pacs_hub, "jobs", "submit", "--model", "ct-lung-seg", str(tmp_path / "ct")],
            env=env, check=True, capture_output=True, text=True,
        )
        job = _wait_job(pacs_hub, env, submitted.stdout.strip())
        assert job["state"] == "succeeded", job
        assert Path(job["result"]["seg"]["path"]).is_file()
        subprocess.run(
            [pacs_hub, "phantom", str(tmp_path / "ct2"), "--slices", "8", "--size", "64",
             "--seed", "2"],  # another series: the first one already has its job
            env=env, check=True, capture_output=True,
        )
        sent = subprocess.run(
            [storescu, "-aec", "PACSHUB", "+sd", "127.0.0.1", str(dicom_port),
             str(tmp_path / "ct2")],
            env={**env, "TCP_NODELAY": "1"}, capture_output=True, text=True, timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        routed = _wait_routed_job(pacs_hub, env, timeout=60)
        assert routed["trigger"] == "route" and routed["model"]["name"] == "ct-lung-seg"
        assert _wait_job(pacs_hub, env, str(routed["id"]))["state"] == "succeeded"
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        assert "stopped" in up.stdout.read()
    finally:
        if up.poll() is None:
            up.kill()
        log.close()
    time.sleep(0.5)
    assert _processes_with(f"PACS_HUB_DATA_DIR={data_dir}") == []


def _wait_job(pacs_hub: str, env: dict[str, str], job_id: str, timeout: float = 60) -> dict:
    job: dict = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.get("state") not in ("succeeded", "failed"):
        shown = subprocess.run(
            [pacs_hub, "jobs", "show", job_id, "--json"],
            env=env, check=True, capture_output=True, text=True,
        )
        job = json.loads(shown.stdout)
        time.sleep(0.3)
    return job


def _wait_routed_job(pacs_hub: str, env: dict[str, str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(
            [pacs_hub, "jobs", "list", "--json"], env=env, check=True, capture_output=True,
            text=True,
        )
        routed = [job for job in json.loads(listed.stdout) if job["trigger"] == "route"]
        if routed:
            return routed[0]
        time.sleep(0.5)
    raise AssertionError("no routed job within the timeout")


def test_up_check_does_not_create_data_dir(tmp_path, monkeypatch, capsys):
    target = tmp_path / "never"
    monkeypatch.setenv("PACS_HUB_DATA_DIR", str(target))
    from hub.settings import reset_settings

    reset_settings()
    main(["up", "--check"])
    assert not target.exists()


def test_phantom_writes_ct_series(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "ct"), "--slices", "10", "--size", "64"])
    assert code == 0
    assert "wrote 10 CT images" in capsys.readouterr().out
    series = load_series([tmp_path / "ct"])
    assert series.volume.shape == (10, 64, 64)
    assert series.modality == "CT" and series.body_part == "CHEST"
    assert (series.volume < -800).any() and (series.volume > 200).any()


def test_phantom_refuses_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert main(["phantom", str(tmp_path / "x")]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_phantom_is_deterministic(tmp_path, capsys):
    main(["phantom", str(tmp_path / "a"), "--slices", "8", "--size", "64"])
    main(["phantom", str(tmp_path / "b"), "--slices", "8", "--size", "64"])
    a, b = load_series([tmp_path / "a"]), load_series([tmp_path / "b"])
    np.testing.assert_array_equal(a.volume, b.volume)
    assert a.series_instance_uid == b.series_instance_uid


def test_bad_option_value_is_a_usage_error_not_a_traceback(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "p"), "--slices", "6"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--slices'" in err and "Traceback" not in err
    assert main(["infer", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_children_stop_when_up_is_killed(tmp_path):
    """An ``up`` killed outright (SIGKILL, the OOM killer) leaves no worker, SCP or web app."""
    data_dir = tmp_path / "hub-data"
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_BROKER_URL", "PACS_HUB_CONFIG")
    }
    env.update(
        PACS_HUB_DATA_DIR=str(data_dir), PACS_HUB_HTTP_PORT=str(free_port()),
        PACS_HUB_DICOM_PORT=str(free_port()),
    )
    pacs_hub = str(Path(sys.executable).with_name("pacs-hub"))
    up = subprocess.Popen([pacs_hub, "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line or line.startswith("pacs-hub is up"):
                break
        assert len(_processes_with(f"PACS_HUB_DATA_DIR={data_dir}")) >= 3
        up.kill()
        up.wait(timeout=10)
    finally:
        if up.poll() is None:
            up.kill()
    deadline = time.monotonic() + 60
    while _processes_with(f"PACS_HUB_DATA_DIR={data_dir}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_with(f"PACS_HUB_DATA_DIR={data_dir}") == []
