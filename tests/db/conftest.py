"""Database fixtures: the embedded SQLite file by default, PostgreSQL when
``PACS_HUB_DATABASE_URL`` says so (``make test`` runs the data-layer and job tests both ways).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Configure Django once for the session and migrate; yields the database URL."""
    url = os.environ.get("PACS_HUB_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.sqlite3'}"
    )
    os.environ["PACS_HUB_DATABASE_URL"] = url
    from hub.settings import reset_settings

    reset_settings()
    from hub.db import migrate

    migrate()
    yield url


@pytest.fixture
def jobs_table(database: str) -> Iterator[None]:
    """An empty job table for one test."""
    from hub.jobs.models import Job

    Job.objects.all().delete()
    yield
    Job.objects.all().delete()
