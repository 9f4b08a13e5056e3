"""Fixtures of the storage tests: empty index tables for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def storage_tables(database: str) -> Iterator[None]:
    """Empty series and instance tables for one test."""
    from hub.storage.models import Instance, Series

    Instance.objects.all().delete()
    Series.objects.all().delete()
    yield
    Instance.objects.all().delete()
    Series.objects.all().delete()
