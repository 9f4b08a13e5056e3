"""The data layer: database URLs, SQLite pragmas, and the job table's idempotency key."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from hub.db.urls import database_config, redacted
from hub.errors import ConfigError


def test_sqlite_url(tmp_path):
    config = database_config(f"sqlite:///{tmp_path}/sub/hub.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == f"{tmp_path}/sub/hub.sqlite3"
    assert (tmp_path / "sub").is_dir()
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5


def test_postgresql_url():
    config = database_config("postgresql://hub:s%40cret@db.example:5433/pacs?sslmode=require")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("pacs", "hub", "s@cret")
    assert (config["HOST"], config["PORT"]) == ("db.example", "5433")
    assert config["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://x@y/z", "unsupported database URL scheme"),
        ("postgresql://user:pw@host:5432/", "names no database"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_bad_urls(url, words):
    with pytest.raises(ConfigError, match=words) as info:
        database_config(url)
    assert ":pw@" not in info.value.cause
    assert info.value.fix


def test_redacted():
    assert redacted("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redacted("sqlite:////x.db") == "sqlite:////x.db"


def test_configured_database_is_the_one_in_use(database):
    with connection.cursor() as cursor:
        if database.startswith("sqlite"):
            assert connection.vendor == "sqlite"
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] >= 5000
        else:
            assert connection.vendor == "postgresql"
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone()[0] == connection.settings_dict["NAME"]


def test_idempotency_key_is_unique(jobs_table):
    from hub.jobs.models import Job

    key = Job.key_for("1.2.3", "ct-lung-seg", "1.0.0")
    Job.objects.create(
        series_instance_uid="1.2.3", model_name="ct-lung-seg", model_version="1.0.0",
        idempotency_key=key,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(
            series_instance_uid="1.2.3", model_name="ct-lung-seg", model_version="1.0.0",
            idempotency_key=key,
        )
    rerun = Job.objects.create(
        series_instance_uid="1.2.3", model_name="ct-lung-seg", model_version="1.0.0",
        run=2, idempotency_key=Job.key_for("1.2.3", "ct-lung-seg", "1.0.0", 2),
    )
    assert Job.objects.count() == 2 and rerun.state == Job.State.QUEUED
