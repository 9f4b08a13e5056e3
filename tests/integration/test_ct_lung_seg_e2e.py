"""The real ct-lung-seg model through ``pacs-hub infer``: valid SEG/SR, masks on the right slice
for sorted, shuffled, reversed-z and oblique/non-square inputs, counts equal to the model output.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from hub.cli.main import main
from hub.inference import load_series, run_model
from hub.plugins.manager import get_registry, reset_registry
from hub.testing.dicom import oblique_orientation, uid_from, write_series
from hub.testing.phantoms import chest_ct_phantom
from hub.testing.validators import assert_dicom_valid, in_ci, require_tool

SLICES, SIZE = 24, 160
SPACING = (2.5, 360.0 / SIZE, 360.0 / SIZE)

CASES = {
    "sorted": dict(order="sorted"),
    "shuffled": dict(order="shuffled"),
    "reversed-z": dict(order="reversed", orientation=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)),
    # columns run toward the patient's right: the phantom's "right" lung is physically left
    "mirrored": dict(order="shuffled", orientation=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)),
    "oblique-nonsquare": dict(
        order="shuffled", orientation=oblique_orientation(20),
        spacing=(2.5, SPACING[1], SPACING[2] * 1.25),
    ),
}


@pytest.fixture(scope="module")
def lung_model():
    reset_registry()
    names = {ep.name for ep in metadata.entry_points(group="pacs_hub")}
    if "ct-lung-seg" not in names:
        message = "ct-lung-seg example plugin is not installed (make install)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    yield get_registry().get("ct-lung-seg")
    reset_registry()


@pytest.fixture(scope="module")
def phantom():
    return chest_ct_phantom(slices=SLICES, rows=SIZE, columns=SIZE, spacing=SPACING, seed=5)


def frames_by_source(seg: hd.seg.Segmentation) -> dict[tuple[str, int], np.ndarray]:
    """(source SOPInstanceUID, segment number) -> that frame of the SEG."""
    pixels = seg.pixel_array if seg.NumberOfFrames > 1 else seg.pixel_array[np.newaxis]
    found = {}
    for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        source = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        found[(str(source), number)] = pixels[index]
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_infer_masks_on_the_right_slice(lung_model, phantom, tmp_path, capsys, case):
    require_tool("dcmdump")
    require_tool("dciodvfy")
    hu, truth = phantom
    options = dict(CASES[case])
    spacing = options.pop("spacing", SPACING)
    seed = f"e2e-{case}"
    write_series(hu, tmp_path / "ct", spacing=spacing, seed=seed, **options)
    code = main(["infer", "--model", "ct-lung-seg", "--out", str(tmp_path / "out"),
                 str(tmp_path / "ct"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    seg_path, sr_path = Path(summary["files"]["seg"]), Path(summary["files"]["sr"])
    for path in (seg_path, sr_path):
        assert_dicom_valid(path)

    # the model's own output on the same input, for exact comparison
    expected = run_model(lung_model, load_series([tmp_path / "ct"])).result.labelmap
    seg = hd.seg.segread(seg_path)
    source = pydicom.dcmread(next((tmp_path / "ct").iterdir()), stop_before_pixels=True)
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.PatientID == source.PatientID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    frames = frames_by_source(seg)
    counts = {1: 0, 2: 0}
    for k in range(SLICES):
        uid = str(uid_from(f"{seed}/instance/{k}"))  # volume slice k, independent of our loader
        for label in (1, 2):
            frame = frames.get((uid, label))
            want = expected[k] == label
            if frame is None:
                assert not want.any(), f"slice {k} segment {label} missing"
                continue
            np.testing.assert_array_equal(frame.astype(bool), want, err_msg=f"slice {k}")
            counts[label] += int(frame.astype(bool).sum())
    assert counts == {1: int((expected == 1).sum()), 2: int((expected == 2).sum())}
    assert {s["label"]: s["voxels"] for s in summary["segments"]} == counts

    # the model is good on the phantom: right lung on the patient's right
    physical = {1: 2, 2: 1} if case == "mirrored" else {1: 1, 2: 2}
    for label in (1, 2):
        want = truth == physical[label]
        dice = 2 * ((expected == label) & want).sum() / ((expected == label).sum() + want.sum())
        assert dice > 0.9, (case, label, dice)

    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    for group in groups:
        assert group.tracking_uid
        assert group.referenced_segment is not None
    assert sr.SeriesInstanceUID != seg.SeriesInstanceUID != source.SeriesInstanceUID


def test_rerun_gives_same_uids(lung_model, phantom, tmp_path, capsys):
    hu, _ = phantom
    write_series(hu, tmp_path / "ct", spacing=SPACING, seed="rerun")
    uids = []
    for out in ("a", "b"):
        assert main(["infer", "-m", "ct-lung-seg", "-o", str(tmp_path / out),
                     str(tmp_path / "ct"), "--json"]) == 0
        uids.append(json.loads(capsys.readouterr().out)["uids"])
    assert uids[0] == uids[1]
