"""Browser tests: a real hub (uvicorn + a job worker, own SQLite database and data folder)
holding the example chest CT study and its ct-lung-seg results, and Debian's Chromium driven
by Playwright (PyPI; no browser download).

Skipped with the reason when Playwright, Chromium or the viewer bundle (``make frontend``) is
missing; failed instead under CI=true. Screenshots and the hub's logs go to
``test-artifacts/browser/`` (gitignored).

The browser fixtures are module-scoped on purpose: Playwright's sync API keeps an event loop
running while a browser is open, and Django's ORM refuses to run in a thread with a running
loop, so no browser may outlive its module. These tests never use the ORM in this process
(the hub's database belongs to its own processes; ``browser_seed.py`` works in a subprocess).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    ARTIFACTS,
    BUNDLE,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    LiveHub,
    require,
)
from browser_seed import PASSWORD

from hub.testing.net import free_port

SEED = Path(__file__).with_name("browser_seed.py")
PACS_HUB = str(Path(sys.executable).with_name("pacs-hub"))


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Playwright importable, Debian's Chromium installed, the viewer bundle built."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "Playwright is not installed (pip install -e '.[dev]')")
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (make system-deps: Debian chromium)")
    bundle = BUNDLE.relative_to(ROOT)
    require(BUNDLE.exists(), f"the viewer bundle {bundle} is missing (make frontend)")


class _Process:
    """A hub subprocess in its own process group, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # children left behind (worker pool)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.handle.close()


def _hub_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_HUB_")}
    env.update(
        PACS_HUB_DATA_DIR=str(home / "data"),
        PACS_HUB_DATABASE_URL=f"sqlite:///{home / 'hub.sqlite3'}",
        PACS_HUB_LOG_LEVEL="INFO",
    )
    return env


def _run_seed(env: dict[str, str], *args: str, timeout: float) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(SEED), *args], env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if done.returncode != 0:
        command = " ".join(args)
        raise AssertionError(f"browser_seed.py {command} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wait_http(url: str, web: _Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not web.alive():
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the hub did not answer {url}:\n{web.log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def live_hub(tmp_path_factory: pytest.TempPathFactory, browser_ready: None) -> Iterator[LiveHub]:
    """The hub under uvicorn on 127.0.0.1 with a worker; the CT study analysed by a real job."""
    home = tmp_path_factory.mktemp("browser-hub")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = _hub_env(home)
    seeded = _run_seed(env, "seed", str(home / "ct"), timeout=180)
    port = free_port()
    worker = _Process(
        [PACS_HUB, "worker", "--concurrency", "1"], env, ARTIFACTS / "hub-worker.log"
    )
    web = _Process(
        [PACS_HUB, "web", "--host", "127.0.0.1", "--port", str(port)], env,
        ARTIFACTS / "hub-web.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/api/v1/health", web)
        try:
            _run_seed(env, "wait", str(seeded["job"]), timeout=200)
        except AssertionError as exc:
            worker_log = worker.log.read_text(errors="replace")
            raise AssertionError(f"{exc}\nworker log:\n{worker_log}") from None

        yield LiveHub(
            url=url,
            study=str(seeded["study"]),
            series=str(seeded["series"]),
            job=int(str(seeded["job"])),
            password=PASSWORD,
            env=env,
            logs=ARTIFACTS,
        )
    finally:
        web.stop(signal.SIGINT)
        worker.stop(signal.SIGQUIT)


@pytest.fixture(scope="module")
def playwright(browser_ready: None) -> Iterator[Any]:
    """Playwright's sync driver, for one test module (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Any, live_hub: LiveHub) -> Iterator[Any]:
    """Headless Chromium with software WebGL (SwiftShader); after the hub is up."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
