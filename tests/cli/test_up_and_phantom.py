"""``pacs-hub up`` says what it started; ``pacs-hub phantom`` writes a loadable CT series."""

from __future__ import annotations

import numpy as np
import pytest

from hub.cli.main import main
from hub.inference import load_series
from hub.plugins.manager import reset_registry
from hub.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh_registry():
    reset_registry()
    yield
    reset_registry()


def test_up_reports_started_and_missing_parts(capsys):
    code = main(["up"])
    out = capsys.readouterr().out
    data_dir = get_settings().data_dir.resolve()
    assert data_dir.is_dir()
    assert f"data directory : {data_dir}" in out
    assert "started        : plugin registry" in out
    assert "not available  : DICOM SCP (port 11112, AE PACSHUB)" in out
    assert "web UI and REST API (port 8000)" in out
    enabled = "models enabled : 0" not in out
    assert code == (0 if enabled else 1)


def test_up_check_does_not_create_data_dir(tmp_path, monkeypatch, capsys):
    target = tmp_path / "never"
    monkeypatch.setenv("PACS_HUB_DATA_DIR", str(target))
    from hub.settings import reset_settings

    reset_settings()
    main(["up", "--check"])
    assert not target.exists()


def test_phantom_writes_ct_series(tmp_path, capsys):
    code = main(["phantom", str(tmp_path / "ct"), "--slices", "10", "--size", "64"])
    assert code == 0
    assert "wrote 10 CT images" in capsys.readouterr().out
    series = load_series([tmp_path / "ct"])
    assert series.volume.shape == (10, 64, 64)
    assert series.modality == "CT" and series.body_part == "CHEST"
    assert (series.volume < -800).any() and (series.volume > 200).any()


def test_phantom_refuses_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    assert main(["phantom", str(tmp_path / "x")]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_phantom_is_deterministic(tmp_path, capsys):
    main(["phantom", str(tmp_path / "a"), "--slices", "8", "--size", "64"])
    main(["phantom", str(tmp_path / "b"), "--slices", "8", "--size", "64"])
    a, b = load_series([tmp_path / "a"]), load_series([tmp_path / "b"])
    np.testing.assert_array_equal(a.volume, b.volume)
    assert a.series_instance_uid == b.series_instance_uid
