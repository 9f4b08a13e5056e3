"""docs/plugins.md runs as written: its files are extracted, its commands run for real.

The tutorial marks each file with ``<!-- file: PATH -->`` right before its fenced block and
each block of commands to run with ``<!-- run -->`` before a ``console`` block (``$ `` lines
are commands, other lines sample output). This module writes the files into a temporary
folder and runs the commands in order as subprocesses, with the real ``pacs-hub`` console
script. ``pip install -e DIR`` becomes ``pip install --no-deps --no-build-isolation --target
SITE DIR`` and ``SITE`` goes on ``PYTHONPATH``, so the shared virtual environment is never
modified; other installed plugins are disabled so that only the tutorial's plugin is judged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import highdicom as hd
import pytest

from hub.plugins.validation import FINDINGS
from hub.sdk import ModelManifest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
MODEL = "ct-bone-threshold"
DISTRIBUTION = "pacs-hub-my-plugin==0.1.0"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```[\w-]*\n(?P<body>.*?)\n```", re.S)
RUN_BLOCK = re.compile(r"<!-- run -->\n```console\n(?P<body>.*?)\n```", re.S)
STEP_TIMEOUT = 300


@dataclass
class Tutorial:
    """The folder the tutorial ran in, its environment and each command's outcome."""

    root: Path
    env: dict[str, str]
    steps: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the tutorial folder with the tutorial's environment."""
        return subprocess.run(
            argv,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    def output_of(self, prefix: str) -> str:
        """Standard output of the first step whose command starts with ``prefix``."""
        for command, done in self.steps:
            if command.startswith(prefix):
                return done.stdout
        raise AssertionError(f"the tutorial runs no command starting with {prefix!r}")


def tutorial_files(text: str) -> dict[str, str]:
    """Path -> content of every ``<!-- file: PATH -->`` block of the tutorial."""
    return {m["path"]: m["body"] + "\n" for m in FILE_BLOCK.finditer(text)}


def tutorial_commands(text: str) -> list[str]:
    """The ``$ `` commands of every ``<!-- run -->`` block, in order."""
    return [
        line[2:].strip()
        for block in RUN_BLOCK.finditer(text)
        for line in block["body"].splitlines()
        if line.startswith("$ ")
    ]


def pacs_hub_script() -> str:
    """The ``pacs-hub`` console script of the running environment."""
    beside = Path(sys.executable).with_name("pacs-hub")
    found = str(beside) if beside.is_file() else shutil.which("pacs-hub")
    if found is None:
        pytest.fail("the pacs-hub console script is not installed; run `make dev`")
    return found


def translate(command: str, site: Path) -> list[str]:
    """The argv that runs one tutorial command here without touching the shared venv."""
    argv = shlex.split(command)
    if argv[:3] == ["pip", "install", "-e"] and len(argv) == 4:
        return [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--disable-pip-version-check", "--target", str(site), argv[3],
        ]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv[0] == "pacs-hub":
        return [pacs_hub_script(), *argv[1:]]
    raise AssertionError(f"the tutorial runs a command this test cannot translate: {command}")


def other_plugins() -> list[str]:
    """Entry-point names of the plugins installed in the shared environment."""
    return sorted({ep.name for ep in metadata.entry_points(group="pacs_hub")})


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    """Write the tutorial's files and run its commands in order; fail on the first error."""
    pytest.importorskip("setuptools", reason="pip --no-build-isolation needs setuptools")
    root = tmp_path_factory.mktemp("tutorial")
    text = DOC.read_text(encoding="utf-8")
    for relative, body in tutorial_files(text).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    site = root / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACS_HUB_")}
    env.update(
        PYTHONPATH=str(site),
        PACS_HUB_DATA_DIR=str(root / "hub-data"),
        PACS_HUB_DISABLED_PLUGINS=json.dumps(other_plugins()),
        PYTHONDONTWRITEBYTECODE="1",
    )
    result = Tutorial(root=root, env=env)
    for command in tutorial_commands(text):
        done = result.run(translate(command, site))
        assert done.returncode == 0, (
            f"tutorial step `{command}` exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        result.steps.append((command, done))
    return result


def test_tutorial_has_files_and_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    files = tutorial_files(text)
    assert {
        "my-plugin/pyproject.toml",
        "my-plugin/make_model.py",
        "my-plugin/src/my_plugin/plugin.py",
        "my-plugin/tests/test_plugin.py",
    } <= set(files)
    assert len(files["my-plugin/src/my_plugin/plugin.py"].splitlines()) < 50
    assert "[project.entry-points.pacs_hub]" in files["my-plugin/pyproject.toml"]
    commands = tutorial_commands(text)
    for wanted in ("pip install -e", "pacs-hub plugins list", "pacs-hub plugins check",
                   "pacs-hub phantom", f"pacs-hub infer --model {MODEL}"):
        assert any(c.startswith(wanted) for c in commands), wanted


def test_tutorial_documents_every_finding_id_and_manifest_field() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing_ids = [fid for fid in FINDINGS if f"`{fid}`" not in text]
    assert not missing_ids, f"docs/plugins.md lacks finding IDs {missing_ids}"
    fields = [f.name for f in dataclasses.fields(ModelManifest)]
    missing = [name for name in fields if f"`{name}`" not in text]
    assert not missing, f"docs/plugins.md lacks manifest fields {missing}"


def test_printed_sha256_is_the_manifest_sha256(tutorial: Tutorial) -> None:
    printed = tutorial.output_of("python my-plugin/make_model.py").strip()
    plugin = (tutorial.root / "my-plugin/src/my_plugin/plugin.py").read_text(encoding="utf-8")
    assert re.fullmatch(r"[0-9a-f]{64}", printed)
    assert f'sha256="{printed}"' in plugin
    assert printed in DOC.read_text(encoding="utf-8")


def test_plugin_is_listed_and_enabled(tutorial: Tutorial) -> None:
    assert MODEL in tutorial.output_of("pacs-hub plugins list")
    done = tutorial.run([pacs_hub_script(), "plugins", "list", "--json"])
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    [model] = [m for m in listing["models"] if m["name"] == MODEL]
    assert model["enabled"] is True
    assert model["source"] == "entry-point"
    assert model["distribution"] == DISTRIBUTION
    assert model["findings"] == []
    assert model["outputs"] == ["SEG", "SR"]
    assert Path(model["model_file"]).is_relative_to(tutorial.root / "site")


def test_plugins_check_passes(tutorial: Tutorial) -> None:
    output = tutorial.output_of("pacs-hub plugins check")
    assert "1 models OK" in output
    assert "plugins.E" not in output


def test_infer_writes_seg_and_sr_that_highdicom_reads(tutorial: Tutorial) -> None:
    assert "wrote SEG" in tutorial.output_of("pacs-hub infer")
    done = tutorial.run(
        [pacs_hub_script(), "infer", "--model", MODEL, "--out", "results-json", "--json",
         "phantom-ct"]
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == {"name": MODEL, "version": "0.1.0"}
    [segment] = summary["segments"]
    assert segment["name"] == "Bone" and segment["voxels"] > 0
    [measurement] = summary["measurements"]
    assert measurement["key"] == "bone_volume" and measurement["unit"] == "ml"

    seg = hd.seg.segread(tutorial.root / summary["files"]["seg"])
    assert seg.SegmentSequence[0].SegmentLabel == "Bone"
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"
    assert seg.StudyInstanceUID == summary["series"]["StudyInstanceUID"]
    sr = hd.sr.srread(tutorial.root / summary["files"]["sr"])
    [group] = sr.content.get_volumetric_roi_measurement_groups()
    [volume] = group.get_measurements()
    assert volume.name.meaning == "Volume"
    assert float(volume.value) == pytest.approx(measurement["value"], abs=1e-3)
    assert str(group.referenced_segment.referenced_sop_instance_uid) == seg.SOPInstanceUID
