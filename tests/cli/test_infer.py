"""``pacs-hub infer`` end to end: results on good input, one-line errors and no leftovers on bad."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from hub.cli.main import main
from hub.plugins.manager import reset_registry
from hub.settings import override_settings
from hub.testing.dicom import write_series
from hub.testing.onnx_models import threshold_segmenter

PLUGIN = '''
from pathlib import Path
import numpy as np
from hub.sdk import (CODES, UNITS, MeasurementSpec, ModelManifest, ModelPlugin, Result,
                     SegmentSpec, TensorSpec, hookimpl)

class Bright(ModelPlugin):
    manifest = ModelManifest(
        name="bright-test", version="1.0", modalities=("CT",),
        model_file=Path({model!r}), sha256={sha!r},
        inputs=(TensorSpec("image", (None, 1, None, None), "float32"),),
        segments=(SegmentSpec(1, "bright", CODES["anatomical_structure"], CODES["lung"]),),
        measurements=(MeasurementSpec("bright_volume", CODES["volume"], UNITS["ml"], 1),),
    )

    def preprocess(self, series):
        return {{"image": series.volume[:, None]}}

    def postprocess(self, outputs, series):
        labels = outputs["logits"].argmax(axis=1).astype(np.uint8)
        volume = float(labels.sum()) * series.voxel_volume_ml
        return Result(labelmap=labels, measurements={{"bright_volume": volume}})

@hookimpl
def hub_models():
    return [Bright()]
'''


@pytest.fixture
def plugin_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugin")
    model = folder / "bright.onnx"
    sha = threshold_segmenter(model, threshold=100.0, labels=1)
    path = folder / "bright_plugin.py"
    path.write_text(PLUGIN.format(model=str(model), sha=sha))
    return path


@pytest.fixture
def hub_with_plugin(plugin_file):
    override_settings(plugin_paths=[str(plugin_file)])
    reset_registry()
    yield plugin_file
    reset_registry()


@pytest.fixture
def ct(tmp_path) -> tuple[Path, np.ndarray]:
    volume = np.full((6, 16, 20), -500.0, dtype=np.float32)
    volume[2:5, 4:10, 5:12] = 300.0
    write_series(volume, tmp_path / "ct", order="shuffled", spacing=(2.0, 0.8, 0.6))
    return tmp_path / "ct", volume


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_infer_writes_seg_and_sr(hub_with_plugin, ct, tmp_path, capsys):
    folder, volume = ct
    out = tmp_path / "out"
    code, stdout, stderr = run(["infer", "--model", "bright-test", "--out", str(out),
                                str(folder), "--json"], capsys)
    assert code == 0, stderr
    summary = json.loads(stdout)
    expected = int((volume > 100).sum())
    assert summary["segments"][0]["voxels"] == expected
    assert summary["measurements"][0]["value"] == pytest.approx(expected * 2.0 * 0.8 * 0.6 / 1000)
    seg = hd.seg.segread(summary["files"]["seg"])
    assert int(seg.get_volume().array.astype(bool).sum()) == expected
    sr = hd.sr.srread(summary["files"]["sr"])
    assert sr.StudyInstanceUID == pydicom.dcmread(next(folder.iterdir())).StudyInstanceUID
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(summary["files"][k]).name for k in ("seg", "sr")
    )
    assert set(summary["timings_s"]) >= {"load", "preprocess", "inference", "write", "total"}


def test_infer_plain_summary(hub_with_plugin, ct, tmp_path, capsys):
    code, stdout, _ = run(["infer", "-m", "bright-test", "-o", str(tmp_path / "o"),
                           str(ct[0])], capsys)
    assert code == 0
    assert "segment 1 bright:" in stdout and "wrote SEG:" in stdout and "wrote SR:" in stdout
    assert "bright_volume:" in stdout and " ml" in stdout


def _bad(tmp_path: Path, kind: str, ct_folder: Path) -> list[Path]:
    """Create one kind of bad input and return the paths to pass."""
    bad = tmp_path / kind
    bad.mkdir()
    if kind == "not-dicom":
        (bad / "a.txt").write_text("hello")
    elif kind == "two-series":
        write_series(np.zeros((3, 8, 8), np.float32), bad / "x", seed="x")
        write_series(np.zeros((3, 8, 8), np.float32), bad / "y", seed="y")
    elif kind == "mr":
        write_series(np.zeros((3, 8, 8), np.float32), bad, modality="MR")
    elif kind == "truncated":
        paths = write_series(np.zeros((3, 8, 8), np.float32), bad)
        paths[1].write_bytes(paths[1].read_bytes()[:-40])
    elif kind == "gzip":
        data = next(ct_folder.iterdir()).read_bytes()
        (bad / "image.dcm.gz").write_bytes(gzip.compress(data))
    return [bad]


@pytest.mark.parametrize(
    ("kind", "words", "exit_code"),
    [
        ("not-dicom", "a.txt is not a DICOM file", 2),
        ("empty", "contains no files", 2),
        ("two-series", "holds 2 series", 2),
        ("mr", "accepts modalities ['CT']", 2),
        ("truncated", "IM00002.dcm", 2),
        ("gzip", "gzip-compressed archive", 2),
    ],
)
def test_bad_input_one_line_error_no_output(hub_with_plugin, ct, tmp_path, capsys, kind, words,
                                            exit_code):
    paths = _bad(tmp_path, kind, ct[0])
    out = tmp_path / "out"
    code, stdout, stderr = run(["infer", "--model", "bright-test", "--out", str(out),
                                *map(str, paths)], capsys)
    assert code == exit_code
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and words in lines[0] and "(fix: " in lines[0]
    assert not out.exists(), "no partial output"
    assert stdout == ""


def test_unknown_model(hub_with_plugin, ct, tmp_path, capsys):
    code, _, stderr = run(["infer", "--model", "nope", "--out", str(tmp_path / "o"),
                           str(ct[0])], capsys)
    assert code == 4
    assert "nope" in stderr and "bright-test" in stderr
    assert not (tmp_path / "o").exists()


def test_out_is_a_file(hub_with_plugin, ct, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, stderr = run(["infer", "--model", "bright-test", "--out", str(target),
                           str(ct[0])], capsys)
    assert code == 2 and "is a file" in stderr


def test_existing_out_folder_left_untouched_on_failure(hub_with_plugin, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    bad = _bad(tmp_path, "mr", tmp_path)
    code, _, _ = run(["infer", "--model", "bright-test", "--out", str(out), str(bad[0])], capsys)
    assert code == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_console_script_end_to_end(plugin_file, ct, tmp_path):
    exe = Path(sys.executable).with_name("pacs-hub")
    env = dict(os.environ, PACS_HUB_PLUGIN_PATHS=json.dumps([str(plugin_file)]))
    good = subprocess.run(
        [str(exe), "infer", "--model", "bright-test", "--out", str(tmp_path / "o"), str(ct[0]),
         "--json"], capture_output=True, text=True, env=env, timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["files"]["seg"].endswith(".dcm")
    bad = subprocess.run(
        [str(exe), "infer", "--model", "bright-test", "--out", str(tmp_path / "p"),
         str(tmp_path / "missing")], capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: ") and "does not exist" in bad.stderr
