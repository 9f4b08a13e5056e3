"""Redis restarted while jobs are queued: nothing is lost (our own redis-server, AOF on)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_helpers import submit, wait_for

from hub.testing.net import free_port
from hub.testing.validators import require_tool

DONE = ("succeeded", "failed", "cancelled")




class RedisServer:
    """A private redis-server on a loopback port, persisting with appendonly."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the AOF and exits
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    require_tool("redis-server")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_jobs_queued_across_a_redis_restart_all_run(private_redis, start_worker, make_series):
    from hub.settings import override_settings

    override_settings(broker_url=private_redis.url)
    series = [make_series() for _ in range(3)]
    jobs = [submit(folder, one, "bright-test") for folder, one in series]
    private_redis.stop()
    private_redis.start()
    start_worker(env={"PACS_HUB_BROKER_URL": private_redis.url})
    for job in jobs:
        assert wait_for(job.pk, DONE, timeout=60).state == "succeeded"
