"""The ``[storage]`` settings table."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from hub.settings import build_settings, get_settings


def test_defaults():
    assert get_settings().storage.min_free_mb == 500
    assert get_settings().storage.checksums is True


def test_from_toml(tmp_path, monkeypatch):
    config = tmp_path / "hub.toml"
    config.write_text("[storage]\nmin_free_mb = 2048\nchecksums = false\n")
    monkeypatch.setenv("PACS_HUB_CONFIG", str(config))
    storage = build_settings().storage
    assert (storage.min_free_mb, storage.checksums) == (2048, False)


def test_negative_watermark_refused():
    with pytest.raises(ConfigError, match="storage.min_free_mb"):
        build_settings(storage={"min_free_mb": -1})
