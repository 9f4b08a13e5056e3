"""Shared fixtures. Integration tests skip when a tool is absent, except in CI, where they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hub.settings import reset_settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test starts from default settings with its own data directory."""
    data_dir = tmp_path_factory.mktemp("hub-data")
    old = os.environ.get("PACS_HUB_DATA_DIR")
    os.environ["PACS_HUB_DATA_DIR"] = str(data_dir)
    reset_settings()
    yield
    if old is None:
        os.environ.pop("PACS_HUB_DATA_DIR", None)
    else:
        os.environ["PACS_HUB_DATA_DIR"] = old
    reset_settings()


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Configure Django once for the session and migrate; yields the database URL."""
    url = os.environ.get("PACS_HUB_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.sqlite3'}"
    )
    os.environ["PACS_HUB_DATABASE_URL"] = url
    from hub.settings import reset_settings

    reset_settings()
    _point_django_at(url)
    from hub.db import migrate

    migrate()
    yield url


def _point_django_at(url: str) -> None:
    """Re-point an already set-up Django (an earlier in-process command did) at ``url``."""
    import django.conf

    if not django.conf.settings.configured:
        return
    from django.db import connections

    from hub.db.urls import database_config

    connections.close_all()
    django.conf.settings.DATABASES = {"default": database_config(url)}
    connections._settings = None
    connections.__dict__.pop("settings", None)
    for alias in ("default",):
        if hasattr(connections._connections, alias):
            delattr(connections._connections, alias)


@pytest.fixture
def jobs_table(database: str) -> Iterator[None]:
    """An empty job table for one test."""
    from hub.jobs.models import Job

    Job.objects.all().delete()
    yield
    Job.objects.all().delete()


@pytest.fixture
def index_tables(database: str) -> Iterator[None]:
    """Empty series and instance tables (the storage index) for one test."""
    from hub.storage.models import Instance, Series

    Instance.objects.all().delete()
    Series.objects.all().delete()
    yield
    Instance.objects.all().delete()
    Series.objects.all().delete()
