"""The installed example plugins keep working beside deliberately broken plugins, through the
real console script: ``plugins list --json`` lists the examples with their manifests and the
broken ones disabled with finding ID and hint, and ``infer`` still runs an example.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from hub.testing.dicom import write_series
from hub.testing.phantoms import chest_ct_phantom
from hub.testing.validators import in_ci

EXE = Path(sys.executable).with_name("pacs-hub")
EXAMPLES = {"ct-lung-seg", "mr-brain-extract", "us-burned-in-text"}


@pytest.fixture
def broken(plugins):
    installed = {ep.name for ep in metadata.entry_points(group="pacs_hub")}
    if not EXAMPLES <= installed:
        message = f"example plugins not installed: {sorted(EXAMPLES - installed)} (make install)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    plugins.make("bad-checksum", sha256="0" * 64)
    plugins.make("bad-shape", graph_shape=(None, 1, 64, 64), shape=(None, 1, 32, 32))
    plugins.make("bad-import", prelude="import no_such_module_for_pacs_hub\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(plugins.root), *filter(None, [env.get("PYTHONPATH")])])
    return env


def hub(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], env=env, capture_output=True, text=True, timeout=300)


def test_examples_listed_and_broken_ones_disabled(broken):
    done = hub(broken, "plugins", "list", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    models = {m["name"]: m for m in listing["models"]}
    for name in EXAMPLES:
        assert models[name]["enabled"] is True, models[name]["findings"]
        assert models[name]["findings"] == []
    lung = models["ct-lung-seg"]
    assert lung["modalities"] == ["CT"] and lung["outputs"] == ["SEG", "SR"]
    assert [s["name"] for s in lung["segments"]] == ["Right lung", "Left lung"]
    assert models["mr-brain-extract"]["dimensionality"] == "3d"
    expected = {"bad-checksum": "plugins.E007", "bad-shape": "plugins.E005"}
    for name, finding_id in expected.items():
        assert models[name]["enabled"] is False
        (finding,) = models[name]["findings"]
        assert finding["id"] == finding_id and finding["hint"]
    import_errors = [f for f in listing["findings"] if f["plugin"] == "bad-import"]
    assert [f["id"] for f in import_errors] == ["plugins.E001"]
    assert "no_such_module_for_pacs_hub" in import_errors[0]["message"]
    assert listing["ok"] is False
    check = hub(broken, "plugins", "check")
    assert check.returncode == 1
    for finding_id in ("plugins.E001", "plugins.E005", "plugins.E007"):
        assert finding_id in check.stdout


def test_infer_runs_beside_broken_plugins(broken, tmp_path):
    spacing = (2.5, 2.25, 2.25)
    hu, _ = chest_ct_phantom(slices=16, rows=160, columns=160, spacing=spacing, seed=3)
    write_series(hu, tmp_path / "ct", spacing=spacing, seed="beside-broken")
    done = hub(broken, "infer", "--model", "ct-lung-seg", "--out", str(tmp_path / "out"),
               str(tmp_path / "ct"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert all(s["voxels"] > 0 for s in summary["segments"])
    refused = hub(broken, "infer", "--model", "bad-checksum", "--out", str(tmp_path / "x"),
                  str(tmp_path / "ct"))
    assert refused.returncode != 0
    assert "plugins.E007" in refused.stderr and not (tmp_path / "x").exists()
