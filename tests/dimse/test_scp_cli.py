"""``pacs-hub scp`` as a real process: serves until SIGTERM, and one-line errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scp_helpers import echoscu, indexed_sop_uids, store_statuses, storescu, wait_for

from hub.testing.dicom import write_series

HUB = [sys.executable, "-m", "hub.cli.main"]
LISTENING = re.compile(r"pacs-hub scp: AE (\S+) on ([\d.]+):(\d+)")


def hub_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PACS_HUB_LOG_LEVEL": "INFO", **extra}


def start_scp(*args: str, **env: str) -> tuple[subprocess.Popen[str], str, int, list[str]]:
    """Start ``pacs-hub scp`` and wait for its one line; returns (process, AE, port, lines)."""
    proc = subprocess.Popen(
        [*HUB, "scp", "--host", "127.0.0.1", "--port", "0", *args],
        env=hub_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            return proc, found[1], int(found[3]), lines
    proc.kill()
    raise AssertionError("pacs-hub scp did not start:\n" + "".join(lines))


def test_pacs_hub_scp_serves_until_sigterm(index_tables: None, tmp_path: Path):
    proc, ae, port, _ = start_scp("--ae-title", "CLIHUB")
    try:
        assert ae == "CLIHUB"
        assert echoscu(port, called="CLIHUB").returncode == 0
        paths = write_series(np.zeros((3, 16, 16)), tmp_path / "ct", seed="cli")
        done = storescu(port, paths, called="CLIHUB")
        assert store_statuses(done.stdout + done.stderr) == [0, 0, 0]
        assert wait_for(lambda: len(indexed_sop_uids()) == 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert "released" in out  # the association's close was logged with its counts
    assert "Doe" not in out  # no patient names in the log


def run_hub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUB, *args], env=hub_env(**env), capture_output=True, text=True, timeout=120,
        check=False,
    )


def test_port_in_use_is_a_one_line_error(database: str):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_hub("scp", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode != 0
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"cannot listen on 127.0.0.1:{port}" in line and "(fix:" in line


def test_bad_ae_title_is_a_one_line_error(database: str):
    done = run_hub("scp", "--port", "0", "--ae-title", "WAY-TOO-LONG-AE-TITLE")
    assert done.returncode != 0
    assert re.search(r"^error: --ae-title .* is not a valid AE title \(fix: ", done.stderr, re.M)


def test_unmigrated_database_is_refused_with_the_fix(tmp_path: Path):
    done = run_hub(
        "scp", "--port", "0",
        PACS_HUB_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    )
    assert done.returncode != 0
    assert "the database is not migrated" in done.stderr
    assert "(fix: run 'pacs-hub manage migrate')" in done.stderr
