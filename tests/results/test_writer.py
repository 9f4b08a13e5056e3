"""write_results: files, validators (dcmdump, dciodvfy), determinism, nothing left on failure."""

from __future__ import annotations

import os
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from hub.errors import ResultError
from hub.results import write_results
from hub.results.uids import is_valid_uid
from hub.sdk import Result
from hub.testing.dicom import oblique_orientation
from tests.results.conftest import (
    LEFT,
    RIGHT,
    assert_dciodvfy_clean,
    assert_dcmdump_clean,
    classifier_manifest,
    lung_manifest,
)

MEASURED = {"left_volume": 1.25, "right_volume": 2.5, "total_volume": 3.75}


@pytest.mark.parametrize("seg_type", ["binary", "labelmap"])
@pytest.mark.parametrize("multiframe", [False, True])
def test_written_seg_and_sr_validate(make_source, tmp_path, seg_type, multiframe):
    source = make_source(
        order="shuffled",
        multiframe=multiframe,
        orientation=oblique_orientation(),
        spacing=(1.5, 0.6, 0.9),
    )
    out = tmp_path / "out"
    files = write_results(
        source.series, lung_manifest(seg_type), Result(source.truth, MEASURED), out
    )
    assert files.seg_path is not None and files.sr_path is not None
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [files.seg_path.name, files.sr_path.name]
    )
    assert files.seg_path.name.startswith("ct-lung-seg-seg-")
    assert files.sr_path.name.startswith("ct-lung-seg-sr-")
    assert files.counts == {
        LEFT: int((source.truth == LEFT).sum()),
        RIGHT: int((source.truth == RIGHT).sum()),
    }
    seg = hd.seg.segread(files.seg_path)
    sr = hd.sr.srread(files.sr_path)
    assert seg.SOPInstanceUID == files.seg_uid and sr.SOPInstanceUID == files.sr_uid
    for path in (files.seg_path, files.sr_path):
        assert_dcmdump_clean(path)
        assert_dciodvfy_clean(path)


def test_classifier_writes_sr_only(make_source, tmp_path):
    source = make_source()
    files = write_results(
        source.series,
        classifier_manifest(),
        Result(findings={"nodule": "absent"}, scores={"nodule": 0.1}),
        tmp_path / "out",
    )
    assert files.seg_path is None and files.seg_uid is None and files.counts == {}
    assert files.sr_path is not None and [p.name for p in (tmp_path / "out").iterdir()] == [
        files.sr_path.name
    ]
    assert_dcmdump_clean(files.sr_path)
    assert_dciodvfy_clean(files.sr_path)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask(make_source, tmp_path, umask):
    """Results are created as ``open()`` would (0666 less the umask), not mkstemp's 0600."""
    import os
    import stat

    source = make_source()
    old = os.umask(umask)
    try:
        files = write_results(
            source.series,
            classifier_manifest(),
            Result(findings={"nodule": "absent"}, scores={"nodule": 0.1}),
            tmp_path / "out",
        )
    finally:
        os.umask(old)
    assert files.sr_path is not None
    assert stat.S_IMODE(files.sr_path.stat().st_mode) == 0o666 & ~umask


def test_uids_are_deterministic(make_source, tmp_path):
    source = make_source()
    result = Result(source.truth, MEASURED)
    first = write_results(source.series, lung_manifest(), result, tmp_path / "a")
    again = write_results(source.series, lung_manifest(), result, tmp_path / "b")
    assert (first.seg_uid, first.sr_uid) == (again.seg_uid, again.sr_uid)
    assert first.seg_path.name == again.seg_path.name  # type: ignore[union-attr]
    seg_a, seg_b = hd.seg.segread(first.seg_path), hd.seg.segread(again.seg_path)
    assert seg_a.SeriesInstanceUID == seg_b.SeriesInstanceUID
    other = write_results(source.series, lung_manifest(version="1.0.1"), result, tmp_path / "c")
    assert other.seg_uid != first.seg_uid and other.sr_uid != first.sr_uid
    for uid in (first.seg_uid, first.sr_uid, other.seg_uid, other.sr_uid):
        assert is_valid_uid(uid)
    # re-writing into the same folder replaces the files instead of adding copies
    write_results(source.series, lung_manifest(), result, tmp_path / "a")
    assert len(list((tmp_path / "a").iterdir())) == 2


def _bad_results(truth: np.ndarray) -> dict[str, tuple[Result, str]]:
    undeclared_label = truth.copy()
    undeclared_label[0, 0, 0] = 2
    return {
        "undeclared-label": (Result(undeclared_label, MEASURED), "labels \\[2\\]"),
        "wrong-shape": (Result(truth[1:], MEASURED), "shape"),
        "float-labelmap": (Result(truth.astype(np.float32), MEASURED), "dtype"),
        "no-labelmap": (Result(None, MEASURED), "no labelmap"),
        "undeclared-measurement": (Result(truth, {**MEASURED, "weight": 1.0}), "'weight'"),
        "nan-measurement": (Result(truth, {**MEASURED, "total_volume": float("nan")}), "finite"),
        "nothing-for-sr": (Result(truth), "no measurements or findings"),
        "negative-labelmap": (Result(truth.astype(np.int16) - 1, MEASURED), "values span"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "undeclared-label",
        "wrong-shape",
        "float-labelmap",
        "no-labelmap",
        "undeclared-measurement",
        "nan-measurement",
        "nothing-for-sr",
        "negative-labelmap",
    ],
)
def test_result_violating_manifest_leaves_nothing(make_source, tmp_path, case):
    source = make_source()
    result, message = _bad_results(source.truth)[case]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ResultError, match=message) as info:
        write_results(source.series, lung_manifest(), result, out)
    assert info.value.fix
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("findings", "scores", "message"),
    [
        ({"nodule": "maybe"}, {}, "answer 'maybe'"),
        ({"mass": "present"}, {}, "'mass' is not declared"),
        ({"nodule": "present"}, {"nodule": 1.5}, "in \\[0, 1\\]"),
        ({"nodule": "present"}, {"other": 0.5}, "no finding"),
    ],
)
def test_bad_findings_leave_nothing(make_source, tmp_path, findings, scores, message):
    source = make_source()
    with pytest.raises(ResultError, match=message):
        write_results(
            source.series,
            classifier_manifest(),
            Result(findings=findings, scores=scores),
            tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


def test_failure_while_writing_removes_what_was_written(make_source, tmp_path, monkeypatch):
    """The SEG is renamed into place, then the SR rename fails: neither file stays."""
    source = make_source()
    out = tmp_path / "out"
    calls = []
    real_replace = os.replace

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("hub.results.writer.os.replace", failing_replace)
    with pytest.raises(ResultError, match="No space left") as info:
        write_results(source.series, lung_manifest(), Result(source.truth, MEASURED), out)
    assert "writable" in info.value.fix
    assert len(calls) == 2
    assert not out.exists(), "the folder this call created is removed too"


def test_failure_keeps_a_folder_that_existed(make_source, tmp_path, monkeypatch):
    source = make_source()
    out = tmp_path / "existing"
    out.mkdir()
    (out / "mine.txt").write_text("keep")

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("hub.results.writer.os.replace", failing_replace)
    with pytest.raises(ResultError):
        write_results(source.series, lung_manifest(), Result(source.truth, MEASURED), out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_failed_rerun_restores_the_earlier_results(make_source, tmp_path, monkeypatch):
    source = make_source()
    out = tmp_path / "out"
    first = write_results(source.series, lung_manifest(), Result(source.truth, MEASURED), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []
    real_replace = os.replace

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the SEG is replaced, the SR's rename fails
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("hub.results.writer.os.replace", failing_replace)
    changed = dict(MEASURED, left_volume=9.0)
    with pytest.raises(ResultError):
        write_results(source.series, lung_manifest(), Result(source.truth, changed), out)
    monkeypatch.setattr("hub.results.writer.os.replace", real_replace)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(after) == sorted(before), sorted(after)
    assert after == before, "the earlier SEG and SR are back, nothing else is left"
    assert first.seg_path.name in after and first.sr_path.name in after
