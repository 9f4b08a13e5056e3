"""Job test fixtures: real ``pacs-hub worker`` subprocesses, test plugins, tiny phantoms.

Runs on the embedded defaults (filesystem broker + SQLite) unless ``PACS_HUB_DATABASE_URL`` /
``PACS_HUB_BROKER_URL`` are set (``make test-scaleout``: PostgreSQL + Redis); each session uses
its own Redis key prefix so concurrent runs never take each other's messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.testing.onnx_models import threshold_segmenter
from hub.testing.validators import in_ci

PACS_HUB = str(Path(sys.executable).with_name("pacs-hub"))

PLUGIN = '''
import time
from pathlib import Path
import numpy as np
from hub.sdk import (CODES, UNITS, MeasurementSpec, ModelManifest, ModelPlugin, Result,
                     SegmentSpec, TensorSpec, hookimpl)

def manifest(name):
    return ModelManifest(
        name=name, version="1.0", modalities=("CT",),
        model_file=Path({model!r}), sha256={sha!r},
        inputs=(TensorSpec("image", (None, 1, None, None), "float32"),),
        segments=(SegmentSpec(1, "bright", CODES["anatomical_structure"], CODES["lung"]),),
        measurements=(MeasurementSpec("bright_volume", CODES["volume"], UNITS["ml"], 1),),
    )

class Bright(ModelPlugin):
    manifest = manifest("bright-test")
    delay = 0.0

    def preprocess(self, series):
        if self.delay:
            time.sleep(self.delay)
        return {{"image": series.volume[:, None]}}

    def postprocess(self, outputs, series):
        labels = outputs["logits"].argmax(axis=1).astype(np.uint8)
        volume = float(labels.sum()) * series.voxel_volume_ml
        return Result(labelmap=labels, measurements={{"bright_volume": volume}})

class Slow(Bright):
    manifest = manifest("slow-test")
    delay = 3.0

class Hang(Bright):
    manifest = manifest("hang-test")
    delay = 600.0

class Stubborn(Bright):
    """Ignores the soft time limit: only the hard limit stops it."""
    manifest = manifest("stubborn-test")

    def preprocess(self, series):
        end = time.monotonic() + 600
        while time.monotonic() < end:
            try:
                time.sleep(1)
            except BaseException:
                pass

class Raising(Bright):
    manifest = manifest("raising-test")

    def preprocess(self, series):
        raise ValueError("deliberate failure in the test plugin")

@hookimpl
def hub_models():
    return [Bright(), Slow(), Hang(), Stubborn(), Raising()]
'''

CONFIG = """
[jobs]
default_time_limit = 30
hard_limit_grace = 2
max_retries = 1
retry_backoff = 0.2
lease_seconds = 2
broker_key_prefix = "{prefix}"

[jobs.time_limits]
"hang-test" = 2
"stubborn-test" = 2
"""


@pytest.fixture(scope="session")
def jobs_home(tmp_path_factory: pytest.TempPathFactory, database: str) -> dict[str, str]:
    """Environment shared by the test process and its workers (data dir, config, plugins)."""
    home = tmp_path_factory.mktemp("jobs")
    model = home / "bright.onnx"
    sha = threshold_segmenter(model, threshold=100.0, labels=1)
    plugin = home / "job_test_plugins.py"
    plugin.write_text(PLUGIN.format(model=str(model), sha=sha))
    config = home / "hub.toml"
    config.write_text(CONFIG.format(prefix=f"pacs-hub-test-{uuid.uuid4().hex[:8]}:"))
    env = {
        "PACS_HUB_DATA_DIR": str(home / "data"),
        "PACS_HUB_CONFIG": str(config),
        "PACS_HUB_PLUGIN_PATHS": json.dumps([str(plugin)]),
        "PACS_HUB_DATABASE_URL": database,
    }
    broker = os.environ.get("PACS_HUB_BROKER_URL")
    if broker:
        _require_redis(broker)
        env["PACS_HUB_BROKER_URL"] = broker
    return env


def _require_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        message = f"PACS_HUB_BROKER_URL={url} is set but Redis does not answer: {exc}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def jobs_env(jobs_home: dict[str, str], jobs_table: None) -> Iterator[dict[str, str]]:
    """Point this process at the shared job environment; clear the job table."""
    from hub.plugins.manager import reset_registry
    from hub.settings import reset_settings

    saved = {key: os.environ.get(key) for key in jobs_home}
    os.environ.update(jobs_home)
    reset_settings()
    reset_registry()
    yield jobs_home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()
    reset_registry()


class Worker:
    """A ``pacs-hub worker`` subprocess in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int, queues: str) -> None:
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen(
            [PACS_HUB, "worker", "--concurrency", str(concurrency), "--queues", queues],
            env={**os.environ, **env},
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker not ready:\n{self.log.read_text(errors='replace')}")

    def owns(self, pid: int) -> bool:
        try:
            return os.getpgid(pid) == self.proc.pid
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a crashed machine would."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGQUIT)  # cold shutdown: tests need no drain
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        try:  # pool processes left behind by a killed parent
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.handle.close()


@pytest.fixture
def start_worker(
    jobs_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start workers (``start_worker(concurrency=1, env={...})``); all stopped afterwards."""
    workers: list[Worker] = []

    def start(concurrency: int = 1, queues: str = "default", env: dict | None = None) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker({**jobs_env, **(env or {})}, log, concurrency, queues)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


_SEEDS = iter(range(100, 10_000))


@pytest.fixture
def make_series(tmp_path: Path) -> Callable[[], tuple[Path, object]]:
    """Write a tiny CT phantom series with its own UIDs; returns (folder, Series)."""
    from hub.testing.series import synthetic_ct_series

    def make() -> tuple[Path, object]:
        seed = next(_SEEDS)
        folder = tmp_path / f"ct-{seed}"
        series, _ = synthetic_ct_series(folder, slices=4, size=32, seed=seed)
        return folder, series

    return make
