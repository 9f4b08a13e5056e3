"""Fixtures for the web layer: a client and a real server (the ``database`` and
``jobs_table`` fixtures come from tests/conftest.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.testing.net import free_port

BIN = Path(sys.executable).parent




def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers; fail with the process output if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"server exited with {process.returncode} before answering:\n{output}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> str:
    """Stop a server started by a test (SIGTERM, then SIGKILL) and return its output."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode(errors="replace") if output else ""


def database_url_in_use() -> str:
    """The URL of the database Django is configured with in this process.

    Not always the ``database`` fixture's URL: a test elsewhere in the session may have set
    Django up first (on its data directory's SQLite file), and Django is configured once.
    """
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    credentials = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgresql://{credentials}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


@pytest.fixture
def hub_server(database: str, tmp_path: Path) -> Iterator[str]:
    """``pacs-hub web`` in a subprocess on a free loopback port, on this process's database."""
    port = free_port()
    env = os.environ | {
        "PACS_HUB_DATABASE_URL": database_url_in_use(),
        "PACS_HUB_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [str(BIN / "pacs-hub"), "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/api/v1/health", process)
        yield base
    finally:
        stop(process)


@pytest.fixture
def add_job(jobs_table: None) -> Callable[..., Any]:
    """A function inserting one job row (unique series and key) through the ORM."""
    from hub.jobs.models import Job

    serial = itertools.count(1)

    def add(model: str = "ct-lung-seg", state: str = "queued", **fields: Any) -> Job:
        series = f"1.2.826.0.1.3680043.8.498.{next(serial)}"
        return Job.objects.create(
            series_instance_uid=series,
            model_name=model,
            model_version="1.0.0",
            idempotency_key=Job.key_for(series, model, "1.0.0"),
            state=state,
            **fields,
        )

    return add
