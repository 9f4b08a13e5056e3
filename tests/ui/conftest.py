"""Fixtures of the web app tests: clean tables, one user per role, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import PASSWORD, ROLES, Study, add_job, result_fields, store, write_study


def _clear() -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from hub.accounts.models import ApiToken
    from hub.jobs.models import Job, ModelToggle
    from hub.storage.models import Series
    from hub.web.ui.models import AuditEvent, ResultReview

    for model in (ResultReview, AuditEvent, ApiToken, ModelToggle, Job, Series):
        model.objects.all().delete()
    get_user_model().objects.all().delete()
    cache.clear()


@pytest.fixture
def ui_db(database: str) -> Iterator[None]:
    """Empty users, jobs, index, reviews, audit and toggles before and after the test."""
    _clear()
    yield
    _clear()


@pytest.fixture
def fast_passwords() -> Iterator[None]:
    """A fast password hasher for the test (Django's default takes ~0.4 s per hash)."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def people(ui_db: None, fast_passwords: None) -> dict[str, Any]:
    """One user per role, named after it (``radiologist``, ``ml-engineer``, ``admin``)."""
    from hub.accounts.services import create_user

    return {role: create_user(role, role, PASSWORD) for role in ROLES}


@pytest.fixture
def client_for(people: dict[str, Any]) -> Callable[[str | None], Any]:
    """A CSRF-enforcing Django test client, logged in as ``role`` (None: anonymous)."""
    from django.test import Client

    def make(role: str | None) -> Any:
        client = Client(enforce_csrf_checks=True)
        if role is not None:
            client.force_login(people[role])
        return client

    return make


@pytest.fixture(scope="session")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Study, dict]:
    """One CT series and its SEG/SR, written once per session (fixed UIDs)."""
    folder = tmp_path_factory.mktemp("ui-study")
    paths, study = write_study(folder / "src", "ui-study", patient="Rossi")
    return paths, study, result_fields(paths, folder / "out")


@pytest.fixture
def study(people: dict[str, Any], study_files: tuple[list[Path], Study, dict]) -> Study:
    """The stored CT study (patient Rossi) with a succeeded ct-lung-seg job and its SEG/SR."""
    paths, template, fields = study_files
    store(paths)
    stored = Study(**{**template.__dict__, "job": None})
    add_job(stored, "succeeded", **fields)
    return stored

