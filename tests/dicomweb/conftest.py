"""Fixtures of the DICOMweb and viewer tests (``database`` comes from tests/conftest.py).

``phantom`` writes a CT phantom and the ct-lung-seg SEG/SR once per session; ``study`` stores
them into each test's own data directory (CT as received, SEG/SR as hub results) with empty
index tables; ``tokens`` are Bearer headers of users made for these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicomweb_helpers import PASSWORD, Phantom, StoredStudy, bearer, make_phantom, store_phantom
from fastapi.testclient import TestClient

USERNAMES = ("dw-rad", "dw-eng")


@dataclass
class Tokens:
    """``Authorization`` headers: full (view + infer), read-only, infer-only."""

    full: dict[str, str]
    read: dict[str, str]
    infer_only: dict[str, str]
    user: object


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    return make_phantom(tmp_path_factory.mktemp("dicomweb-phantom"))


@pytest.fixture
def empty_index(database: str) -> Iterator[None]:
    from hub.storage.models import Instance, Series
    from hub.web.dicomweb.stored import clear_cache

    Instance.objects.all().delete()
    Series.objects.all().delete()
    clear_cache()
    yield
    Instance.objects.all().delete()
    Series.objects.all().delete()


@pytest.fixture
def study(empty_index: None, phantom: Phantom) -> StoredStudy:
    return store_phantom(phantom)


@pytest.fixture(scope="module")
def tokens(database: str) -> Iterator[Tokens]:
    from django.contrib.auth import get_user_model

    from hub.accounts.roles import sync_roles
    from hub.accounts.services import create_token, create_user

    User = get_user_model()
    User.objects.filter(username__in=USERNAMES).delete()
    sync_roles()
    radiologist = create_user("dw-rad", "radiologist", PASSWORD)
    yield Tokens(
        full=bearer(create_token(radiologist, "dw", ["read", "infer"])[1]),
        read=bearer(create_token(radiologist, "dw-read", ["read"])[1]),
        infer_only=bearer(create_token(radiologist, "dw-infer", ["infer"])[1]),
        user=radiologist,
    )
    User.objects.filter(username__in=USERNAMES).delete()


@pytest.fixture(scope="module")
def client(database: str) -> Iterator[TestClient]:
    from hub.web.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def data_dir() -> Path:
    from hub.storage import files

    return files.data_dir()
