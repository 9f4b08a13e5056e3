"""The README's "with the hub running" block runs as written against a real ``pacs-hub up``.

The block's fixed ports (11112, 8000) are replaced by free ones; every line runs through bash
in order in a folder that holds the tour's ``demo-ct`` series, like a reader's shell would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub.testing.net import free_port
from hub.testing.validators import require_tool

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"With the hub running .*?```console\n(?P<body>.*?)\n```", re.S)


def running_commands() -> list[str]:
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "README has a 'with the hub running' console block"
    return [line.split("  #", 1)[0].strip() for line in match.group("body").splitlines()
            if line.strip()]


def test_block_sends_over_dicom_and_asks_rest_and_dicomweb():
    commands = running_commands()
    assert commands[0].startswith("dcmsend")
    assert any("/api/v1/models" in c for c in commands)
    assert any("/dicomweb/studies" in c for c in commands)


def test_running_block_runs_as_written(tmp_path):
    require_tool("dcmsend")
    require_tool("curl")
    bin_dir = str(Path(sys.executable).parent)
    http_port, dicom_port = free_port(), free_port()
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_BROKER_URL", "PACS_HUB_CONFIG")
    }
    env.update(
        PATH=bin_dir + os.pathsep + os.environ["PATH"], TCP_NODELAY="1",
        PACS_HUB_DATA_DIR=str(tmp_path / "hub-data"), PACS_HUB_HTTP_PORT=str(http_port),
        PACS_HUB_DICOM_PORT=str(dicom_port),
    )
    subprocess.run(["pacs-hub", "phantom", "demo-ct", "--slices", "16"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        up = subprocess.Popen(["pacs-hub", "up"], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    outputs: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 120
        while "pacs-hub is up" not in log_path.read_text():
            assert up.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        for command in running_commands():
            line = command.replace("11112", str(dicom_port)).replace("8000", str(http_port))
            done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{line!r} failed: {done.stdout}{done.stderr}"
            outputs[command] = done.stdout
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=90)
    def output(start: str) -> str:
        return next(text for command, text in outputs.items() if start in command)

    assert "complete" in output("pacs-hub series list")
    assert "ct-lung-seg" in output("pacs-hub jobs list")
    assert '"name":"ct-lung-seg"' in output("/api/v1/models").replace(" ", "")
    assert '"0020000D"' in output("/dicomweb/studies")  # a QIDO-RS study (StudyInstanceUID)
    assert "pacs_hub_jobs" in output("/metrics")
