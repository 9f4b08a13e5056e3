"""Fixtures for plugin tests: fixture plugin packages discovered through real entry points."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

FACTORY_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "factory.py"


def load_factory_module() -> ModuleType:
    """Import tests/fixtures/plugins/factory.py by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("hub_test_plugin_factory", FACTORY_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


factory_module = load_factory_module()


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A :class:`PluginFactory` writing plugins into a directory on sys.path."""
    yield from factory_module.plugin_factory(tmp_path, monkeypatch)


@pytest.fixture
def ct_series() -> object:
    """A small synthetic CT :class:`hub.sdk.Series` (ramp volume, no DICOM files)."""
    return factory_module.synthetic_series()
