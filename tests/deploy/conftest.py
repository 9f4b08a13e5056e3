"""Fixtures for deployment tests: free loopback ports and processes stopped after each test."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a server process and wait until ``ready_url`` answers; all stop at teardown."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        argv: list[str], ready_url: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = tmp_path / f"process-{len(processes)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        processes.append((process, log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{argv[0]} exited with {process.returncode}:\n{log.read_text()}")
            try:
                httpx.get(ready_url, timeout=1.0)
                return process
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"{ready_url} did not answer within 30 s:\n{log.read_text()}")

    yield start
    for process, _ in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
