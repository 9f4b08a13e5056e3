"""Fixtures of the account tests: no users or tokens before and after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def accounts(database: str) -> Iterator[None]:
    from django.contrib.auth import get_user_model

    from hub.accounts.models import ApiToken

    ApiToken.objects.all().delete()
    get_user_model().objects.all().delete()
    yield
    ApiToken.objects.all().delete()
    get_user_model().objects.all().delete()
