"""Rendering (hub.web.render) and the viewer's frame endpoint: window/level, MONOCHROME1,
SEG overlays drawn exactly where the mask is, in the segment's colour."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from dicomweb_helpers import StoredStudy
from PIL import Image
from pydicom import Dataset

from hub.results.colors import PALETTE, palette_color
from hub.testing.dicom import uid_from
from hub.web.render import (
    Mask,
    Window,
    apply_window,
    blend,
    lab_to_rgb,
    modality_values,
    to_display,
)


def png(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def header(photometric: str = "MONOCHROME2") -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = photometric
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    return ds


def test_window_maps_the_range_linearly() -> None:
    values = np.array([-1000.0, -600.0, -200.0, 500.0])
    out = apply_window(values, Window(-600, 800))
    assert out[0] == 0 and out[-1] == 255
    assert 120 <= out[1] <= 135
    exact = apply_window(np.array([-600.0]), Window(-600, 800, "LINEAR_EXACT"))
    assert exact[0] == pytest.approx(127.5)


def test_window_level_changes_the_image_and_defaults_apply() -> None:
    stored = np.arange(0, 2000, dtype=np.int16).reshape(40, 50)
    lung = to_display(header(), 1, stored, Window(-600, 1500))
    bone = to_display(header(), 1, stored, Window(400, 1800))
    assert lung.dtype == np.uint8 and not np.array_equal(lung, bone)
    ranged = to_display(header(), 1, stored, None)  # no file window: the value range
    assert ranged.min() == 0 and ranged.max() == 255
    with_file = header()
    with_file.WindowCenter, with_file.WindowWidth = -600, 1500
    assert np.array_equal(to_display(with_file, 1, stored, None), lung)


def test_monochrome1_is_inverted() -> None:
    stored = np.arange(0, 2000, dtype=np.int16).reshape(40, 50)
    normal = to_display(header("MONOCHROME2"), 1, stored, Window(0, 1000))
    inverted = to_display(header("MONOCHROME1"), 1, stored, Window(0, 1000))
    assert np.array_equal(inverted, 255 - normal)


def test_blend_paints_only_the_mask() -> None:
    gray = np.full((4, 5), 100, np.uint8)
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    out = blend(gray, [Mask(mask, (255, 0, 0))], opacity=1.0)
    assert (out[mask] == [255, 0, 0]).all()
    assert (out[~mask] == [100, 100, 100]).all()
    half = blend(gray, [Mask(mask, (200, 0, 0))], opacity=0.5)
    assert tuple(half[1, 2]) == (150, 50, 50)


def test_cielab_colours() -> None:
    def dicom_lab(lightness: float, a: float, b: float) -> list[int]:
        return [round(lightness * 65535 / 100), round((a + 128) * 65535 / 255),
                round((b + 128) * 65535 / 255)]

    assert lab_to_rgb(dicom_lab(100, 0, 0)) == (255, 255, 255)
    assert lab_to_rgb(dicom_lab(0, 0, 0)) == (0, 0, 0)
    red = lab_to_rgb(dicom_lab(53.24, 80.09, 67.20))
    assert red[0] >= 250 and red[1] <= 5 and red[2] <= 5
    assert palette_color(1) == PALETTE[0] and palette_color(len(PALETTE) + 1) == PALETTE[0]


def seg_masks(study: StoredStudy, ct_uid: str) -> dict[int, np.ndarray]:
    """Segment number -> mask of the SEG frames that reference ``ct_uid``."""
    seg = pydicom.dcmread(study.phantom.seg_path)
    masks: dict[int, np.ndarray] = {}
    for index, group in enumerate(seg.PerFrameFunctionalGroupsSequence):
        source = group.DerivationImageSequence[0].SourceImageSequence[0]
        if source.ReferencedSOPInstanceUID == ct_uid:
            number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
            masks[number] = seg.pixel_array[index].astype(bool)
    return masks


def slice_with_both_lungs(study: StoredStudy) -> str:
    for uid in study.ct_uids:
        masks = seg_masks(study, uid)
        if len(masks) == 2 and all(m.any() for m in masks.values()):
            return uid
    raise AssertionError("no slice shows both segments")


def frame_url(uid: str, frame: int = 1) -> str:
    return f"/api/v1/viewer/frames/{uid}/{frame}"


def test_overlay_is_drawn_exactly_where_the_mask_is(client, study: StoredStudy, tokens) -> None:
    uid = slice_with_both_lungs(study)
    masks = seg_masks(study, uid)
    params = {"overlay": "auto", "opacity": 1, "window_center": 40, "window_width": 400}
    answer = client.get(frame_url(uid), params=params, headers=tokens.full)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-overlay-sopinstanceuid"] == study.seg_uid
    image = png(answer.content)
    for number, mask in masks.items():
        painted = (image == palette_color(number)).all(axis=2)
        assert np.array_equal(painted, mask), number
    outside = ~np.logical_or.reduce(list(masks.values()))
    assert (image[outside][:, 0] == image[outside][:, 1]).all()  # still gray
    named = client.get(frame_url(uid), params={**params, "overlay": study.seg_uid},
                       headers=tokens.full)
    assert named.content == answer.content
    plain = png(client.get(frame_url(uid), params={"window_center": 40, "window_width": 400},
                           headers=tokens.full).content)
    assert (plain[..., 0] == plain[..., 1]).all()
    half = png(client.get(frame_url(uid), params={**params, "opacity": 0.5},
                          headers=tokens.full).content)
    assert not (half == palette_color(1)).all(axis=2).any()


def test_recommended_cielab_colour_is_used(client, study: StoredStudy, tokens) -> None:
    from hub.storage.store import store_instance

    seg = pydicom.dcmread(study.phantom.seg_path)
    seg.SOPInstanceUID = uid_from("recoloured-seg")
    seg.file_meta.MediaStorageSOPInstanceUID = seg.SOPInstanceUID
    seg.SeriesInstanceUID = uid_from("recoloured-seg-series")
    lab = [30000, 50000, 20000]
    seg.SegmentSequence[0].RecommendedDisplayCIELabValue = lab
    store_instance(seg, source="result")
    uid = slice_with_both_lungs(study)
    answer = client.get(frame_url(uid), params={"overlay": str(seg.SOPInstanceUID),
                                                "opacity": 1}, headers=tokens.full)
    image = png(answer.content)
    number = int(seg.SegmentSequence[0].SegmentNumber)
    painted = (image == lab_to_rgb(lab)).all(axis=2)
    assert np.array_equal(painted, seg_masks(study, uid)[number])
    auto = client.get(frame_url(uid), params={"overlay": "auto"}, headers=tokens.full)
    assert auto.headers["x-overlay-sopinstanceuid"] == str(seg.SOPInstanceUID)  # newest


def test_viewer_window_level_and_jpeg(client, study: StoredStudy, tokens) -> None:
    uid = study.ct_uids[4]
    lung = client.get(frame_url(uid), params={"window_center": -600, "window_width": 1500},
                      headers=tokens.full)
    soft = client.get(frame_url(uid), params={"window_center": 40, "window_width": 400},
                      headers=tokens.full)
    default = client.get(frame_url(uid), headers=tokens.full)
    assert not np.array_equal(png(lung.content), png(soft.content))
    assert default.status_code == 200
    jpeg = client.get(frame_url(uid), params={"format": "jpeg"}, headers=tokens.full)
    assert jpeg.headers["content-type"] == "image/jpeg"


def test_monochrome1_file_renders_inverted(client, study: StoredStudy, tokens) -> None:
    from hub.storage.store import store_instance

    original = study.ct_uids[5]
    ds = pydicom.dcmread(study.by_uid[original])
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.SOPInstanceUID = uid_from("monochrome1")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    store_instance(ds)
    window = {"window_center": 40, "window_width": 400}
    normal = png(client.get(frame_url(original), params=window, headers=tokens.full).content)
    inverted = png(client.get(frame_url(str(ds.SOPInstanceUID)), params=window,
                              headers=tokens.full).content)
    assert np.array_equal(inverted, 255 - normal)


def test_viewer_frame_errors(client, study: StoredStudy, tokens) -> None:
    uid = study.ct_uids[0]
    cases = [
        (frame_url("1.2.3"), {}, 404),
        (frame_url(uid, 2), {}, 404),
        (frame_url(study.sr_uid), {}, 404),
        (frame_url("not-a-uid"), {}, 400),
        (frame_url(uid), {"window_center": 40}, 422),
        (frame_url(uid), {"overlay": uid}, 422),
        (frame_url(uid), {"overlay": "1.2.3.4"}, 404),
        (frame_url(uid), {"opacity": 2}, 422),
        (frame_url(uid), {"format": "gif"}, 422),
    ]
    for url, params, status in cases:
        answer = client.get(url, params=params, headers=tokens.full)
        assert answer.status_code == status, (url, params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get(frame_url(uid)).status_code == 401
    assert client.get(frame_url(uid), headers=tokens.infer_only).status_code == 403


def test_voi_lut_sequence_is_applied_when_no_window() -> None:
    ds = header()
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelRepresentation, ds.BitsStored = 0, 12
    item = Dataset()
    item.LUTDescriptor = [4, 10, 8]
    item.LUTData = [0, 51, 102, 255]
    ds.VOILUTSequence = [item]
    stored = np.array([[5, 10, 11, 12, 13, 40]], dtype=np.uint16)
    assert to_display(ds, 1, stored, None).tolist() == [[0, 0, 51, 102, 255, 255]]
    assert to_display(ds, 1, stored, Window(10, 2)).tolist()[0][0] == 0  # a given window wins


def test_palette_colour_images_are_shown_in_colour() -> None:
    ds = header("PALETTE COLOR")
    ds.BitsStored, ds.PixelRepresentation = 8, 0
    for colour, values in (("Red", [0, 65535]), ("Green", [0, 0]), ("Blue", [65535, 0])):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [2, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData",
                np.array(values, dtype="<u2").tobytes())
    out = to_display(ds, 1, np.array([[0, 1]], dtype=np.uint8), None)
    assert out.tolist() == [[[0, 0, 255], [255, 0, 0]]]


def test_multiframe_frames_render_with_their_functional_groups(client, empty_index, tokens,
                                                               tmp_path) -> None:
    from dicomweb_helpers import store_compressed

    _, _, uid, path = store_compressed(tmp_path / "mf")
    ds = pydicom.dcmread(path)
    answer = client.get(frame_url(uid, 3), params={"window_center": -400,
                                                   "window_width": 300}, headers=tokens.full)
    assert answer.status_code == 200, answer.text
    expected = to_display(ds, 3, ds.pixel_array[2], Window(-400, 300))
    assert np.array_equal(png(answer.content)[..., 0], expected)
    assert not np.array_equal(expected, to_display(ds, 1, ds.pixel_array[0], Window(-400, 300)))
    assert "RescaleIntercept" not in ds  # only in the shared functional groups
    assert modality_values(ds, 1, ds.pixel_array[0]).min() == -500  # the written HU
