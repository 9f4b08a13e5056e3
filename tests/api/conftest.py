"""Fixtures of the REST API tests: users with each role, their API tokens, a test client.

The ``database`` fixture comes from tests/conftest.py. Each test starts with no users and
tokens; ``people`` creates one user per role and tokens with the usual scopes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import PASSWORD, People, bearer
from fastapi.testclient import TestClient


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
    """No stored series or instances (and no jobs) before and after the test."""
    from hub.storage.models import Instance, Series

    Instance.objects.all().delete()
    Series.objects.all().delete()
    yield
    Instance.objects.all().delete()
    Series.objects.all().delete()
