"""Units of the DICOMweb layer: Accept negotiation, multipart reading, matching, DICOM JSON."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.tag import Tag

from hub.web.dicomweb.accept import (
    NotAcceptableError,
    parse_accept,
    plan_frames,
    plan_instances,
    plan_rendered,
)
from hub.web.dicomweb.dicomjson import element_at, to_dicom_json
from hub.web.dicomweb.matching import Key, QueryError, parse_query, vr_of
from hub.web.dicomweb.multipart import (
    BodyTooLargeError,
    MalformedBodyError,
    MultipartReader,
    Part,
    parse_content_type,
    stream_parts,
)

RLE = "1.2.840.10008.1.2.5"
EXPLICIT = "1.2.840.10008.1.2.1"
OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def test_parse_accept_orders_by_quality_and_reads_quoted_parameters() -> None:
    ranges = parse_accept('image/png;q=0.5, multipart/related; type="application/dicom"; '
                          'transfer-syntax=*, text/html;q=0')
    assert [r.media_type for r in ranges] == ["multipart/related", "image/png"]
    assert ranges[0].type == "application/dicom" and ranges[0].transfer_syntax == "*"
    assert parse_accept(None)[0].media_type == "*/*"
    assert parse_accept('multipart/related; type="image/x-dicom-rle"')[0].inner == (
        "image/dicom-rle")


@pytest.mark.parametrize(("accept", "stored", "kind", "part"), [
    (None, EXPLICIT, "native", "application/octet-stream"),
    (OHIF_FRAMES, EXPLICIT, "stored", "application/octet-stream"),  # native either way
    (OHIF_FRAMES, RLE, "stored", "application/octet-stream"),
    (f"multipart/related; type=application/octet-stream; transfer-syntax={RLE}", RLE,
     "stored", "application/octet-stream"),
    ('multipart/related; type="application/octet-stream"', RLE, "native",
     "application/octet-stream"),
    ('multipart/related; type="image/dicom-rle"', RLE, "stored", "image/dicom-rle"),
    ('multipart/related; type="image/*"', RLE, "stored", "image/dicom-rle"),
    ("*/*", RLE, "native", "application/octet-stream"),
])
def test_frame_plans(accept: str | None, stored: str, kind: str, part: str) -> None:
    plan = plan_frames(accept, stored)
    assert (plan.kind, plan.part_type) == (kind, part)
    syntax = RLE if kind == "stored" and stored == RLE else EXPLICIT
    assert plan.part_content_type(stored) == f"{part}; transfer-syntax={syntax}"


@pytest.mark.parametrize(("accept", "stored"), [
    ('multipart/related; type="image/jls"', RLE),
    ('multipart/related; type="image/dicom-rle"', EXPLICIT),
    ("multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50",
     RLE),
    ("image/gif", EXPLICIT),
])
def test_frame_plans_that_cannot_be_met(accept: str, stored: str) -> None:
    with pytest.raises(NotAcceptableError):
        plan_frames(accept, stored)


def test_instance_plans() -> None:
    default = plan_instances('multipart/related; type="application/dicom"', single_allowed=False)
    assert default.syntax_for(RLE) == EXPLICIT and default.syntax_for(EXPLICIT) == EXPLICIT
    anything = plan_instances('multipart/related; type="application/dicom"; transfer-syntax=*',
                              single_allowed=False)
    assert anything.syntax_for(RLE) == RLE
    only_jpeg = plan_instances("multipart/related; type=application/dicom; "
                               "transfer-syntax=1.2.840.10008.1.2.4.50", single_allowed=False)
    assert only_jpeg.syntax_for(RLE) is None
    assert not plan_instances("application/dicom", single_allowed=True).multipart
    with pytest.raises(NotAcceptableError):
        plan_instances("application/dicom", single_allowed=False)
    assert plan_rendered(None) == "image/jpeg" and plan_rendered("image/png") == "image/png"
    with pytest.raises(NotAcceptableError):
        plan_rendered(None, "tiff")


def read(body: bytes, size: int, tmp_path: Path, **limits: int) -> list[bytes]:
    counter = itertools.count()

    def new_file() -> Path:
        path = tmp_path / f"part{next(counter)}"
        path.touch()
        return path

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    reader = MultipartReader("B0UND", new_file=new_file, **{"max_bytes": 10**6,
                                                              "max_parts": 10, **limits})
    parts = asyncio.run(reader.read(chunks()))
    return [part.path.read_bytes() for part in parts]


@pytest.mark.parametrize("size", [1, 2, 5, 13, 64, 4096])
def test_multipart_reader_survives_any_chunking(size: int, tmp_path: Path) -> None:
    contents = [b"\r\n--B0UN not a boundary\r\n", b"", b"x" * 3000]
    body = b"preamble\r\n" + b"".join(
        stream_parts([Part("application/dicom", data=c) for c in contents], "B0UND"))
    assert read(body, size, tmp_path) == contents


def test_multipart_reader_limits_and_errors(tmp_path: Path) -> None:
    body = b"".join(stream_parts([Part("a/b", data=b"x" * 100)] * 3, "B0UND"))
    with pytest.raises(BodyTooLargeError):
        read(body, 50, tmp_path, max_bytes=200)
    with pytest.raises(BodyTooLargeError):
        read(body, 50, tmp_path, max_parts=2)
    with pytest.raises(MalformedBodyError):
        read(body[:-12], 50, tmp_path)
    with pytest.raises(MalformedBodyError):
        read(b"--B0UND\r\n" + b"h" * 20000, 1000, tmp_path)
    with pytest.raises(MalformedBodyError):
        MultipartReader("", max_bytes=1, max_parts=1)
    assert not list(tmp_path.iterdir()), "spool files of a refused body are removed"
    assert parse_content_type('multipart/related; type="a/b"; boundary="x;y"') == (
        "multipart/related", {"type": "a/b", "boundary": "x;y"})


def test_matching_keys() -> None:
    query = parse_query([("StudyDate", "20200101-20201231"), ("StudyTime", "1200-1300"),
                         ("StudyInstanceUID", "1.2\\1.3"), ("00200013", "7"),
                         ("includefield", "PatientAge,00081030"), ("limit", "5")], "study")
    keys = {key.keyword: key for key in query.keys}
    assert keys["StudyDate"].matches("20200615") and not keys["StudyDate"].matches("20210101")
    assert keys["StudyTime"].matches("123059.5") and not keys["StudyTime"].matches("130100")
    assert keys["StudyInstanceUID"].uids() == ["1.2", "1.3"]
    assert "InstanceNumber" not in keys and query.warnings  # instance attribute in a study search
    assert query.include == {Tag(0x00101010), Tag(0x00081030)} and query.limit == 5
    number = Key(Tag(0x00200013), "InstanceNumber", vr_of(Tag(0x00200013)), "7")
    assert number.matches(7) and number.matches("7") and not number.matches(8)
    assert Key(Tag(0x00080060), "Modality", "CS", "").matches(None)  # universal
    assert not Key(Tag(0x00080060), "Modality", "CS", "CT").matches(None)
    assert Key(Tag(0x00080060), "Modality", "CS", "CT").matches(["MR", "CT"])
    for bad in ([("Nope", "x")], [("limit", "x")], [("offset", "-2")],
                [("includefield", "Nope")], [("00400275.00401001", "x")]):
        with pytest.raises(QueryError):
            parse_query(bad, "study")


def test_dicom_json_references_large_binaries_by_path() -> None:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    item = Dataset()
    item.EncapsulatedDocument = b"%PDF" + b"x" * 4000
    item.RedPaletteColorLookupTableData = b"\x00\x01"
    ds.ContentSequence = [Dataset(), item]
    seen = []

    def uri(path: str) -> str:
        seen.append(path)
        return f"https://hub/bulk/{path}"

    body = to_dicom_json(ds, uri)
    inner = body["0040A730"]["Value"][1]
    assert inner["00420011"]["BulkDataURI"] == "https://hub/bulk/0040A730/1/00420011"
    assert "InlineBinary" in inner["00281201"]
    assert seen == ["0040A730/1/00420011"]
    assert element_at(ds, "0040A730/1/00420011").value.startswith(b"%PDF")
    for missing in ("0040A730/5/00420011", "00100010", "zz", "0040A730/x/1"):
        assert element_at(ds, missing) is None
