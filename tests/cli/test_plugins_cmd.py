"""``pacs-hub plugins list|check`` with fixture plugins found through real entry points."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hub.cli.main import main
from hub.settings import override_settings

FACTORY = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "factory.py"
CONSOLE_SCRIPT = Path(sys.executable).parent / "pacs-hub"


def _factory_module() -> ModuleType:
    name = "hub_test_plugin_factory"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FACTORY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


factory_module = _factory_module()


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    yield from factory_module.plugin_factory(tmp_path, monkeypatch)


def only_mine(plugins, **settings: object) -> None:
    """Use settings that disable entry points other tests' environments may have installed."""
    others = factory_module.other_entry_points(plugins)
    override_settings(disabled_plugins=others, **settings)


def test_list_json(plugins, capsys) -> None:
    plugins.make("cli-good")
    plugins.make("cli-bad", graph_dtype="float16")
    only_mine(plugins)
    assert main(["plugins", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    status = {m["name"]: m["enabled"] for m in data["models"]}
    assert status["cli-good"] is True and status["cli-bad"] is False
    assert "plugins.E003" in [f["id"] for f in data["findings"]]


def test_list_table_and_findings(plugins, capsys) -> None:
    plugins.make("cli-table")
    plugins.make("cli-broken", sha256="3" * 64)
    only_mine(plugins)
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "cli-table" in out and "enabled" in out and "disabled" in out
    assert "entry-point" in out
    line = next(x for x in out.splitlines() if x.startswith("plugins.E007"))
    assert "[cli-broken/cli-broken@1.0]" in line and "(hint: " in line


def test_check_ok_exits_zero(plugins, capsys) -> None:
    plugins.make("cli-fine")
    only_mine(plugins)
    assert main(["plugins", "check"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 models OK, 0 disabled"


def test_check_with_error_exits_one(plugins, capsys) -> None:
    plugins.make("cli-fine2")
    plugins.make("cli-noimport", prelude="import no_such_module_for_hub_tests")
    plugins.make("cli-shape", graph_shape=(None, 1, 8, 8), shape=(None, 1, 4, 4))
    only_mine(plugins)
    assert main(["plugins", "check"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(x.startswith("plugins.E001 [cli-noimport]") for x in lines)
    assert any(x.startswith("plugins.E005 [cli-shape/cli-shape@1.0]") for x in lines)
    assert lines[-1] == "1 models OK, 1 disabled"


def test_check_honours_disabled_plugins(plugins, capsys) -> None:
    plugins.make("cli-off", prelude="import no_such_module_for_hub_tests")
    only_mine(plugins)
    override_settings(disabled_plugins=[*factory_module.other_entry_points(plugins), "cli-off"])
    assert main(["plugins", "check"]) == 0
    assert "plugins.W001 [cli-off]" in capsys.readouterr().out


def test_console_script_check_fails_on_broken_plugin(plugins) -> None:
    plugins.make("script-broken", sha256="4" * 64)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(plugins.root), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "plugins", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "plugins.E007 [script-broken/script-broken@1.0]" in done.stdout
