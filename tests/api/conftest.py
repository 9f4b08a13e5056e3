"""Fixtures of the REST API tests: users with each role, their API tokens, a test client.

The ``database`` fixture comes from tests/conftest.py. Each test starts with no users and
tokens; ``people`` creates one user per role and tokens with the usual scopes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_helpers import PASSWORD, LiveHub, People, bearer
from fastapi.testclient import TestClient

PACS_HUB = str(Path(sys.executable).with_name("pacs-hub"))


def database_url_in_use() -> str:
    """The URL of the database Django is configured with in this process (a test elsewhere
    in the session may have set Django up first)."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
    return (f"postgresql://{config['USER']}{password}@{config['HOST']}:"
            f"{config['PORT'] or 5432}/{config['NAME']}")


@pytest.fixture
def people(database: str) -> Iterator[People]:
    """An admin, an ML engineer and a radiologist; tokens: admin (admin scope), engineer
    (read+infer+admin), radiologist (admin scope, narrowed by role), a read-only token and an
    infer-only token of the engineer."""
    from django.contrib.auth import get_user_model

    from hub.accounts.models import ApiToken
    from hub.accounts.roles import sync_roles
    from hub.accounts.services import create_token, create_user

    User = get_user_model()
    ApiToken.objects.all().delete()
    User.objects.all().delete()
    sync_roles()
    admin = create_user("ada", "admin", PASSWORD)
    engineer = create_user("eve", "ml-engineer", PASSWORD)
    radiologist = create_user("rad", "radiologist", PASSWORD)
    yield People(
        admin=bearer(create_token(admin, "t", ["admin"])[1]),
        engineer=bearer(create_token(engineer, "t", ["admin", "infer", "read"])[1]),
        radiologist=bearer(create_token(radiologist, "t", ["admin"])[1]),
        reader=bearer(create_token(engineer, "r", ["read"])[1]),
        inferer=bearer(create_token(engineer, "i", ["infer", "read"])[1]),
        users={"admin": admin, "engineer": engineer, "radiologist": radiologist},
    )
    ApiToken.objects.all().delete()
    User.objects.all().delete()


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    """The hub's app under FastAPI's TestClient (lifespan run)."""
    from hub.web.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def empty_hub(database: str, jobs_table: None) -> Iterator[None]:
    """No stored series or instances, no jobs, no model switched off, before and after."""
    from hub.jobs.models import ModelToggle
    from hub.storage.models import Instance, Series

    for model in (Instance, Series, ModelToggle):
        model.objects.all().delete()
    yield
    for model in (Instance, Series, ModelToggle):
        model.objects.all().delete()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen([PACS_HUB, *args], env=env, stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
    try:  # pool processes left behind
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path,
              what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def live_hub(database: str, tmp_path: Path) -> Iterator[LiveHub]:
    """A real uvicorn (``pacs-hub web``) on a free loopback port and a real Celery worker."""
    import httpx

    from hub.settings import get_settings
    from hub.testing.net import free_port

    data_dir = get_settings().data_dir.resolve()
    env = {**os.environ, "PACS_HUB_DATA_DIR": str(data_dir),
           "PACS_HUB_DATABASE_URL": database_url_in_use(), "PACS_HUB_LOG_LEVEL": "INFO"}
    port = free_port()
    worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
    worker = _start(["worker", "--concurrency", "1", "--queues", "default"], env, worker_log)
    web = _start(["web", "--host", "127.0.0.1", "--port", str(port)], env, web_log)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(url + "/api/v1/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_for(lambda: " ready." in worker_log.read_text(errors="replace"), worker,
                  worker_log, "the worker")
        _wait_for(answers, web, web_log, "the web app")
        yield LiveHub(url=url, data_dir=data_dir, env=env)
    finally:
        _stop(web)
        _stop(worker)
