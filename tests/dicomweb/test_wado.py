"""WADO-RS through the TestClient: retrieve, metadata, frames, bulk data, rendered, errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_helpers import StoredStudy, split_multipart, store_compressed
from PIL import Image
from pydicom.encaps import generate_frames

RLE = "1.2.840.10008.1.2.5"
EXPLICIT = "1.2.840.10008.1.2.1"


def test_retrieve_instance_series_and_study(client, study: StoredStudy, tokens) -> None:
    uid = study.ct_uids[0]
    url = f"/dicomweb/studies/{study.study}/series/{study.ct_series}/instances/{uid}"
    answer = client.get(url, headers=tokens.full)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    parts = split_multipart(answer.content, answer.headers["content-type"])
    assert len(parts) == 1
    headers, content = parts[0]
    assert headers["content-type"].startswith("application/dicom")
    assert content == study.by_uid[uid].read_bytes()
    series = client.get(f"/dicomweb/studies/{study.study}/series/{study.seg_series}",
                        headers=tokens.full)
    (seg_part,) = split_multipart(series.content, series.headers["content-type"])
    assert pydicom.dcmread(io.BytesIO(seg_part[1])).SOPInstanceUID == study.seg_uid
    whole = client.get(f"/dicomweb/studies/{study.study}", headers=tokens.full)
    got = {pydicom.dcmread(io.BytesIO(c)).SOPInstanceUID
           for _, c in split_multipart(whole.content, whole.headers["content-type"])}
    assert got == set(study.by_uid)


def test_metadata_references_bulk_data(client, study: StoredStudy, tokens) -> None:
    answer = client.get(f"/dicomweb/studies/{study.study}/series/{study.ct_series}/metadata",
                        headers=tokens.full)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/dicom+json"
    items = answer.json()
    assert len(items) == len(study.ct_uids)
    first = items[0]
    assert first["00083002"]["Value"] == [EXPLICIT]  # AvailableTransferSyntaxUID
    pixel = first["7FE00010"]
    assert "InlineBinary" not in pixel and pixel["vr"] == "OW"
    assert pixel["BulkDataURI"].startswith("http://testserver/dicomweb/studies/")
    uri = pixel["BulkDataURI"].removeprefix("http://testserver")
    bulk = client.get(uri, headers=tokens.full)
    (headers, content), = split_multipart(bulk.content, bulk.headers["content-type"])
    sop = first["00080018"]["Value"][0]
    assert content == study.pixels(sop).tobytes()
    seg = client.get(f"/dicomweb/studies/{study.study}/series/{study.seg_series}/instances/"
                     f"{study.seg_uid}/metadata", headers=tokens.full).json()[0]
    assert seg["00620002"]["vr"] == "SQ"  # SegmentSequence
    assert seg["7FE00010"]["vr"] == "OB"  # 1-bit frames


def test_native_frames_equal_the_stored_pixels(client, study: StoredStudy, tokens) -> None:
    uid = study.ct_uids[2]
    base = f"/dicomweb/studies/{study.study}/series/{study.ct_series}/instances/{uid}"
    answer = client.get(f"{base}/frames/1", headers={
        **tokens.full, "Accept": 'multipart/related; type="application/octet-stream"'})
    assert answer.status_code == 200
    (headers, content), = split_multipart(answer.content, answer.headers["content-type"])
    assert headers["content-type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
    assert np.array_equal(np.frombuffer(content, np.int16).reshape(64, 64), study.pixels(uid))
    ohif = client.get(f"{base}/frames/1", headers={
        **tokens.full,
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    assert split_multipart(ohif.content, ohif.headers["content-type"])[0][1] == content


def test_seg_frames_are_repacked_per_frame(client, study: StoredStudy, tokens) -> None:
    seg = pydicom.dcmread(study.phantom.seg_path)
    url = (f"/dicomweb/studies/{study.study}/series/{study.seg_series}/instances/"
           f"{study.seg_uid}/frames/2,3")
    answer = client.get(url, headers=tokens.full)
    parts = split_multipart(answer.content, answer.headers["content-type"])
    for (_, content), index in zip(parts, (1, 2), strict=True):
        bits = np.unpackbits(np.frombuffer(content, np.uint8), bitorder="little")
        assert np.array_equal(bits[: seg.Rows * seg.Columns].reshape(seg.Rows, seg.Columns),
                              seg.pixel_array[index])


def test_compressed_frames_as_stored_or_decoded(client, empty_index, tokens,
                                                tmp_path: Path) -> None:
    study, series, uid, path = store_compressed(tmp_path / "rle")
    stored = pydicom.dcmread(path)
    fragments = list(generate_frames(stored.PixelData, number_of_frames=3))
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{uid}"
    as_stored = client.get(f"{base}/frames/2,3", headers={
        **tokens.full,
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    parts = split_multipart(as_stored.content, as_stored.headers["content-type"])
    assert [c for _, c in parts] == fragments[1:]
    assert parts[0][0]["content-type"] == f"application/octet-stream; transfer-syntax={RLE}"
    by_type = client.get(f"{base}/frames/1", headers={
        **tokens.full, "Accept": 'multipart/related; type="image/dicom-rle"'})
    (headers, content), = split_multipart(by_type.content, by_type.headers["content-type"])
    assert headers["content-type"] == f"image/dicom-rle; transfer-syntax={RLE}"
    assert content == fragments[0]
    decoded = client.get(f"{base}/frames/3", headers=tokens.full)
    (headers, content), = split_multipart(decoded.content, decoded.headers["content-type"])
    assert headers["content-type"].endswith(EXPLICIT)
    assert np.array_equal(np.frombuffer(content, np.int16).reshape(16, 20),
                          stored.pixel_array[2])
    jpeg_only = client.get(f"{base}/frames/1", headers={
        **tokens.full, "Accept": 'multipart/related; type="image/jpeg"'})
    assert jpeg_only.status_code == 406
    assert jpeg_only.headers["content-type"] == "application/problem+json"
    whole = client.get(base, headers={**tokens.full, "Accept": 'multipart/related; '
                                      'type="application/dicom"; transfer-syntax=*'})
    (headers, content), = split_multipart(whole.content, whole.headers["content-type"])
    assert headers["content-type"].endswith(RLE) and content == path.read_bytes()
    transcoded = client.get(base, headers=tokens.full)
    (headers, content), = split_multipart(transcoded.content,
                                          transcoded.headers["content-type"])
    ds = pydicom.dcmread(io.BytesIO(content))
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT
    assert np.array_equal(ds.pixel_array, stored.pixel_array)


@pytest.mark.parametrize("suffix", [
    "/studies/1.2.3", "/studies/1.2.3/metadata", "/studies/{study}/series/1.2.3",
    "/studies/{study}/series/{series}/instances/1.2.3",
    "/studies/{study}/series/{series}/instances/1.2.3/frames/1",
    "/studies/{study}/series/{series}/instances/{sop}/frames/99",
    "/studies/{study}/series/{sr_series}/instances/{sr}/frames/1",
])
def test_unknown_things_are_404(client, study: StoredStudy, tokens, suffix: str) -> None:
    url = "/dicomweb" + suffix.format(study=study.study, series=study.ct_series,
                                      sop=study.ct_uids[0], sr_series=study.sr_series,
                                      sr=study.sr_uid)
    answer = client.get(url, headers=tokens.full)
    assert answer.status_code == 404, url
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 404


def test_unsupported_accept_is_406(client, study: StoredStudy, tokens) -> None:
    base = f"/dicomweb/studies/{study.study}/series/{study.ct_series}"
    for url, accept in (
        (base, 'multipart/related; type="application/dicom+xml"'),
        (base, "text/html"),
        (f"{base}/metadata", "application/dicom+xml"),
        (f"{base}/instances/{study.ct_uids[0]}/frames/1", "image/gif"),
        (f"{base}/instances/{study.ct_uids[0]}/rendered", "image/gif"),
    ):
        answer = client.get(url, headers={**tokens.full, "Accept": accept})
        assert answer.status_code == 406, (url, accept)
        assert answer.headers["content-type"] == "application/problem+json"


def test_bad_frame_lists_are_400(client, study: StoredStudy, tokens) -> None:
    url = (f"/dicomweb/studies/{study.study}/series/{study.ct_series}/instances/"
           f"{study.ct_uids[0]}/frames/1,x")
    assert client.get(url, headers=tokens.full).status_code == 400


def test_rendered_and_thumbnails(client, study: StoredStudy, tokens) -> None:
    base = (f"/dicomweb/studies/{study.study}/series/{study.ct_series}/instances/"
            f"{study.ct_uids[3]}")
    jpeg = client.get(f"{base}/rendered", headers=tokens.full)
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (64, 64)
    lung = client.get(f"{base}/frames/1/rendered", params={"window": "-600,1500"},
                      headers={**tokens.full, "Accept": "image/png"})
    bone = client.get(f"{base}/frames/1/rendered", params={"window": "400,1800,LINEAR_EXACT"},
                      headers={**tokens.full, "Accept": "image/png"})
    assert lung.headers["content-type"] == "image/png"
    assert lung.content != bone.content
    small = client.get(f"{base}/rendered", params={"viewport": "32,32"}, headers=tokens.full)
    assert Image.open(io.BytesIO(small.content)).size == (32, 32)
    assert client.get(f"{base}/rendered", params={"window": "a,b"},
                      headers=tokens.full).status_code == 400
    for url in (f"/dicomweb/studies/{study.study}/thumbnail",
                f"/dicomweb/studies/{study.study}/series/{study.ct_series}/thumbnail",
                f"{base}/thumbnail", f"{base}/frames/1/thumbnail"):
        thumb = client.get(url, headers=tokens.full)
        assert thumb.status_code == 200, url
        assert max(Image.open(io.BytesIO(thumb.content)).size) <= 128
    no_image = client.get(f"/dicomweb/studies/{study.study}/series/{study.sr_series}/thumbnail",
                          headers=tokens.full)
    assert no_image.status_code == 404


def test_retrieve_needs_view_studies(client, study: StoredStudy, tokens) -> None:
    url = f"/dicomweb/studies/{study.study}/metadata"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=tokens.infer_only).status_code == 403
