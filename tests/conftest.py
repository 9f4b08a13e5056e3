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
