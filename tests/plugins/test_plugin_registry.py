"""Discovery order, the registry's lookup and JSON, and broken plugins beside a good one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hub.errors import PluginError, UnknownModelError
from hub.plugins import manager
from hub.plugins.manager import get_registry, load_registry, reset_registry
from hub.settings import build_settings, override_settings


def ids_of(registry, plugin: str) -> list[str]:
    return [f.id for f in registry.findings if f.plugin == plugin]


def test_good_and_broken_plugins_load_together(plugins, ct_series) -> None:
    plugins.make("mix-good", model_name="mix-good")
    plugins.make("mix-checksum", sha256="1" * 64)
    plugins.make("mix-shape", graph_shape=(None, 1, 64, 64), shape=(None, 1, 32, 32))
    plugins.make("mix-import", prelude="raise SystemExit('plugin exits at import')")
    plugins.make("mix-modality", modalities=("CT", "BOGUS"))
    registry = load_registry(build_settings())

    assert ids_of(registry, "mix-checksum") == ["plugins.E007"]
    assert ids_of(registry, "mix-shape") == ["plugins.E005"]
    assert ids_of(registry, "mix-import") == ["plugins.E001"]
    assert ids_of(registry, "mix-modality") == ["plugins.E009"]
    assert all(f.hint for f in registry.findings)
    assert not registry.ok
    for name in ("mix-checksum", "mix-shape"):
        assert not [m for m in registry.models if m.manifest.name == name][0].enabled
        with pytest.raises(PluginError) as raised:
            registry.get(name)
        assert "plugins.E" in raised.value.cause

    good = registry.get("mix-good")
    assert good.enabled and good in registry.enabled()
    series = ct_series
    from hub.inference import run_model

    outcome = run_model(good, series)
    expected = (series.volume > 100.0).astype(np.uint8)  # ties go to the lower label
    np.testing.assert_array_equal(outcome.result.labelmap, expected)


def test_get_unknown_model_lists_enabled_models(plugins) -> None:
    plugins.make("known-seg")
    registry = load_registry(build_settings())
    with pytest.raises(UnknownModelError) as raised:
        registry.get("nope-seg")
    assert "nope-seg" in raised.value.cause
    assert "known-seg@1.0" in raised.value.fix
    with pytest.raises(UnknownModelError):
        registry.get("known-seg", version="9.9")
    assert registry.get("known-seg", version="1.0").manifest.version == "1.0"


def test_get_with_no_models_says_how_to_install() -> None:
    with pytest.raises(UnknownModelError) as raised:
        manager.Registry().get("anything")
    assert "pip install <plugin package>" in raised.value.fix
    assert "pacs-hub plugins list" in raised.value.fix


def test_get_prefers_highest_enabled_version(plugins) -> None:
    plugins.make("ver-old", model_name="ver-seg", version="1.2")
    plugins.make("ver-new", model_name="ver-seg", version="1.10")
    assert load_registry(build_settings()).get("ver-seg").manifest.version == "1.10"


def test_as_json_is_serialisable_and_complete(plugins) -> None:
    plugins.make("json-seg")
    plugins.make("json-bad", sha256="2" * 64)
    data = json.loads(json.dumps(load_registry(build_settings()).as_json()))
    (model,) = [m for m in data["models"] if m["name"] == "json-seg"]
    assert model["modalities"] == ["CT"]
    image = {"name": "image", "shape": [None, 1, None, None], "dtype": "float32"}
    assert model["inputs"] == [image]
    assert model["segments"][0]["type"] == {"value": "39607008", "scheme": "SCT", "meaning": "Lung"}
    assert model["algorithm_family"]["value"] == "113109"
    assert model["enabled"] is True and model["source"] == "entry-point"
    assert model["distribution"] == "json_seg==0.1"
    for key in (
        "version",
        "body_parts",
        "sop_classes",
        "min_slices",
        "max_slices",
        "dimensionality",
        "outputs",
        "measurements",
        "finding_specs",
        "model_file",
        "sha256",
        "findings",
    ):
        assert key in model
    assert data["ok"] is False
    assert [f["id"] for f in data["findings"] if f["plugin"] == "json-bad"] == ["plugins.E007"]


def test_plugin_paths_dotted_and_file(plugins) -> None:
    plugins.make("dotted-seg", entry_point=False)
    made = plugins.make("file-seg", entry_point=False)
    file_path = plugins.root / f"{made.module}.py"
    registry = load_registry(build_settings(plugin_paths=["dotted_seg", str(file_path)]))
    dotted = registry.get("dotted-seg")
    from_file = registry.get("file-seg")
    assert dotted.source == from_file.source == "path"
    assert dotted.distribution is None
    assert from_file.model_path == made.model_path
    assert from_file.plugin_name == str(file_path)


def test_missing_plugin_path_is_e001(plugins) -> None:
    registry = load_registry(build_settings(plugin_paths=["/nonexistent/plugin.py", "no_mod_x"]))
    assert ids_of(registry, "/nonexistent/plugin.py") == ["plugins.E001"]
    assert ids_of(registry, "no_mod_x") == ["plugins.E001"]


def test_load_order_builtins_entry_points_paths(plugins, monkeypatch) -> None:
    plugins.make("order-builtin", entry_point=False)
    plugins.make("order-b-ep")
    plugins.make("order-a-ep")
    plugins.make("order-path", entry_point=False)
    monkeypatch.setattr(manager, "BUILTIN_PLUGINS", ("order_builtin",))
    registry = load_registry(build_settings(plugin_paths=["order_path"]))
    names = [m.plugin_name for m in registry.models if m.plugin_name.startswith("order")]
    assert names == ["order_builtin", "order-a-ep", "order-b-ep", "order_path"]
    assert registry.get("order-builtin").source == "builtin"


def test_hook_returning_instances_and_classes(plugins) -> None:
    hook = (
        "class Other(Plugin):\n"
        "    manifest = ModelManifest(**{**Plugin.manifest.__dict__, 'name': 'other-seg'})\n\n"
        "@hookimpl\ndef hub_models():\n    return [Plugin(), Other]\n"
    )
    plugins.make("multi-seg", hook=hook)
    registry = load_registry(build_settings())
    assert registry.get("multi-seg").enabled and registry.get("other-seg").enabled


def test_get_registry_is_cached_until_reset(plugins) -> None:
    override_settings(disabled_plugins=["cached-seg"])
    plugins.make("cached-seg")
    first = get_registry()
    assert get_registry() is first
    reset_registry()
    assert get_registry() is not first
