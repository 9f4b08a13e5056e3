"""Outbox test fixtures: real ``pacs-hub worker`` processes, real dcmtk ``storescp`` peers and a
pynetdicom peer that answers chosen statuses.

Reuses the job tests' worker class and test plugins (``tests/jobs/conftest.py``, loaded by
path). Runs on the embedded defaults (filesystem broker + SQLite) unless
``PACS_HUB_DATABASE_URL`` / ``PACS_HUB_BROKER_URL`` are set (PostgreSQL + Redis); each test has
its own data directory (so its own embedded broker) and its own Redis key prefix.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest

from hub.testing.net import free_port
from hub.testing.onnx_models import threshold_segmenter
from hub.testing.validators import require_tool

_spec = importlib.util.spec_from_file_location(
    "jobs_conftest_for_outbox", Path(__file__).resolve().parents[1] / "jobs" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
jobs_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jobs_conftest)
Worker = jobs_conftest.Worker

ROUTE = "to-pacs"


@pytest.fixture(scope="session")
def outbox_home(tmp_path_factory: pytest.TempPathFactory, database: str) -> dict[str, str]:
    """Environment shared by the test process and its workers (plugins, database, broker)."""
    home = tmp_path_factory.mktemp("outbox")
    model = home / "bright.onnx"
    sha = threshold_segmenter(model, threshold=100.0, labels=1)
    plugin = home / "outbox_test_plugins.py"
    plugin.write_text(jobs_conftest.PLUGIN.format(model=str(model), sha=sha))
    env = {
        "PACS_HUB_PLUGIN_PATHS": json.dumps([str(plugin)]),
        "PACS_HUB_DATABASE_URL": database,
    }
    broker = os.environ.get("PACS_HUB_BROKER_URL")
    if broker:
        jobs_conftest._require_redis(broker)
        env["PACS_HUB_BROKER_URL"] = broker
    return env


class Hub:
    """The hub configuration of one test: writes PACS_HUB_CONFIG, shares it with workers."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.config = folder / "hub.toml"
        self.prefix = f"pacs-hub-outbox-{uuid.uuid4().hex[:8]}:"
        self.env = {**env, "PACS_HUB_CONFIG": str(self.config)}

    def configure(
        self,
        peers: dict[str, int] | None = None,
        send_to: list[str] | None = None,
        routes: list[dict[str, Any]] | None = None,
        **outbox: float,
    ) -> None:
        """Peers ``name -> port`` (AE title PACS on 127.0.0.1), the route's send_to, [outbox].

        ``routes``: more ``[[routes]]`` tables (after the ``to-pacs`` one), as dicts.
        """
        from hub.settings import reset_settings

        options = {"max_attempts": 3, "backoff": 0.3, "backoff_max": 0.5, "timeout": 5} | outbox
        lines = [
            'AE_TITLE = "HUBTEST"',
            "[jobs]",
            "default_time_limit = 30",
            "hard_limit_grace = 2",
            "max_retries = 1",
            "retry_backoff = 0.2",
            "lease_seconds = 2",
            f'broker_key_prefix = "{self.prefix}"',
            "[outbox]",
            *(f"{key} = {value}" for key, value in options.items()),
        ]
        for name, port in (peers or {}).items():
            lines += ["[[peers]]", f'name = "{name}"', 'ae_title = "PACS"',
                      'host = "127.0.0.1"', f"port = {port}"]
        if send_to is not None:
            lines += ["[[routes]]", f'name = "{ROUTE}"', 'match = { Modality = "CT" }',
                      f"send_to = {json.dumps(send_to)}"]
        for table in routes or []:
            lines.append("[[routes]]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        reset_settings()


def toml_value(value: Any) -> str:
    """``value`` (str, bool, number, list, dict) as a TOML value (dicts as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


@pytest.fixture(autouse=True)
def hub_config(outbox_home: dict[str, str], jobs_table: None, tmp_path: Path) -> Iterator[Hub]:
    """Point this process at the test's configuration (no peers yet); clear the job table."""
    from hub.plugins.manager import reset_registry
    from hub.settings import reset_settings

    current = Hub(tmp_path, outbox_home)
    saved = {key: os.environ.get(key) for key in current.env}
    os.environ.update(current.env)
    current.configure()
    reset_registry()
    yield current
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()
    reset_registry()
    broker = outbox_home.get("PACS_HUB_BROKER_URL")
    if broker:  # drop this test's leftover messages (delayed retries)
        import redis

        client = redis.Redis.from_url(broker)
        for key in client.scan_iter(current.prefix + "*"):
            client.delete(key)


@pytest.fixture
def start_worker(hub_config: Hub, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start ``pacs-hub worker`` processes with the test's configuration; stopped afterwards."""
    workers: list[Any] = []

    def start(concurrency: int = 1) -> Any:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker(hub_config.env, log, concurrency, "default")
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def make_series(tmp_path: Path) -> Callable[[], tuple[Path, Any]]:
    """Write a tiny CT phantom series with fresh UIDs; returns (folder, Series)."""
    from hub.testing.series import synthetic_ct_series

    def make() -> tuple[Path, Any]:
        seed = random.randrange(10**6, 10**9)
        folder = tmp_path / f"ct-{seed}"
        series, _ = synthetic_ct_series(folder, slices=4, size=32, seed=seed)
        return folder, series

    return make


# --- peers ---------------------------------------------------------------------------------


def wait_listening(port: int, alive: Callable[[], bool], deadline: float = 10.0) -> None:
    """Wait until something accepts TCP connections on ``port``."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not alive():
            raise RuntimeError("the peer exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class StoreSCP:
    """A dcmtk ``storescp`` (AE title PACS) writing to ``folder``; it appends each received
    file's name to an order file, synchronously, before it answers (``-xcr ... -xs``)."""

    def __init__(self, tool: str, folder: Path, port: int, options: tuple[str, ...]) -> None:
        self.folder, self.port = folder, port
        self.order = folder.with_suffix(".order")
        self.order.touch()
        self.log = folder.with_suffix(".log")
        self.handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [tool, "-od", str(folder), "-aet", "PACS", "-xcr", f"echo #f >> {self.order}",
             "-xs", *options, str(port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=self.handle, stderr=subprocess.STDOUT,
        )
        wait_listening(port, lambda: self.proc.poll() is None)

    def stored(self) -> list[tuple[str, str]]:
        """``(Modality, SOP Instance UID)`` of each instance stored, in the order received."""
        names = self.order.read_text().split()
        return [(self._modality(name), name.partition(".")[2]) for name in names]

    def _modality(self, name: str) -> str:
        return str(pydicom.dcmread(self.folder / name, stop_before_pixels=True).Modality)

    def files(self) -> dict[str, str]:
        """SOP Instance UID -> Modality of the files on disk (a file per UID: a re-sent
        instance replaces its copy)."""
        return {path.name.partition(".")[2]: self._modality(path.name)
                for path in self.folder.iterdir()}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.handle.close()


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[Callable[..., StoreSCP]]:
    """``storescp(port=None, *options)`` starts a dcmtk storescp; all stopped afterwards."""
    tool = require_tool("storescp")
    peers: list[StoreSCP] = []

    def start(port: int | None = None, *options: str) -> StoreSCP:
        folder = tmp_path / f"storescp-{len(peers)}"
        folder.mkdir()
        peer = StoreSCP(tool, folder, port or free_port(), options)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()


@dataclass
class ScriptedPeer:
    """A pynetdicom storage SCP (AE title PACS) answering each C-STORE as ``answer`` says.

    ``answer(modality, n)`` gets the Modality and how many times this SOP Instance UID arrived
    before; it returns a status, or a ``(seconds, status)`` pair to stall first. ``received``
    holds ``(modality, uid, status)`` in the order the answers went out.
    """

    answer: Callable[[str, int], Any]
    port: int = field(default_factory=free_port)
    received: list[tuple[str, str, int]] = field(default_factory=list)
    arrivals: list[str] = field(default_factory=list)
    server: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ScriptedPeer:
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        ae = AE(ae_title="PACS")
        ae.supported_contexts = AllStoragePresentationContexts
        ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = 30
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
        )
        return self

    def _on_store(self, event: Any) -> int:
        ds = event.dataset
        modality, uid = str(ds.get("Modality", "")), str(ds.SOPInstanceUID)
        with self.lock:
            before = self.arrivals.count(uid)
            self.arrivals.append(uid)
        answer = self.answer(modality, before)
        if isinstance(answer, tuple):
            time.sleep(answer[0])
            answer = answer[1]
        with self.lock:
            self.received.append((modality, uid, int(answer)))
        return int(answer)

    def stored(self) -> dict[str, int]:
        """SOP Instance UID -> times stored with a success status."""
        counts: dict[str, int] = {}
        for _, uid, status in self.received:
            if status == 0:
                counts[uid] = counts.get(uid, 0) + 1
        return counts

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


@pytest.fixture
def scripted_peer() -> Iterator[Callable[[Callable[[str, int], Any]], ScriptedPeer]]:
    """``scripted_peer(answer)`` starts a :class:`ScriptedPeer`; all stopped afterwards."""
    peers: list[ScriptedPeer] = []

    def start(answer: Callable[[str, int], Any]) -> ScriptedPeer:
        peer = ScriptedPeer(answer).start()
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()
