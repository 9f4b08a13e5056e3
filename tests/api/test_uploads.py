"""hub.web.uploads alone: zip entry names, central-directory limits, the file budget."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from api_helpers import zip_of

from hub.settings import override_settings
from hub.web.problems import ProblemError
from hub.web.uploads import UploadedFile, display_name, expand_zips, looks_like_dicom, unsafe_name


@pytest.mark.parametrize("name", ["../a", "a/../../b", "/abs", "C:/x", "c:x", "..\\a",
                                  "a\\..\\..\\b", "nul\x00.dcm"])
def test_unsafe_entry_names(name: str) -> None:
    assert unsafe_name(name)


@pytest.mark.parametrize("name", ["a.dcm", "series/1.dcm", "x..y.dcm", "..a", "dir/...dcm"])
def test_safe_entry_names(name: str) -> None:
    assert not unsafe_name(name)


def test_display_name_is_the_last_printable_part() -> None:
    assert display_name(b"../../etc/passwd", "x") == "passwd"
    assert display_name("C:\\scans\\a\x07.dcm", "x") == "a.dcm"
    assert display_name("", "file 3") == "file 3"


def part(folder: Path, name: str, data: bytes) -> UploadedFile:
    path = folder / name
    path.write_bytes(data)
    return UploadedFile(name, path, len(data))


def test_zips_expand_in_place_skipping_folders_hidden_and_dicomdir(tmp_path: Path) -> None:
    archive = zip_of({"s/1.dcm": b"one", "s/.DS_Store": b"junk", "__MACOSX/s/._1.dcm": b"mac",
                      "DICOMDIR": b"dir", "s/2.dcm": b"two"})
    files = [part(tmp_path, "a", b"first"), part(tmp_path, "z", archive),
             part(tmp_path, "b", b"last")]
    expanded = expand_zips(files, tmp_path)
    assert [f.name for f in expanded] == ["a", "1.dcm", "2.dcm", "b"]
    assert [f.path.read_bytes() for f in expanded] == [b"first", b"one", b"two", b"last"]
    assert not (tmp_path / "z").exists()  # the zip itself is removed once extracted
    assert all(f.path.parent == tmp_path for f in expanded)  # never the entries' own paths


def test_file_budget_counts_plain_files_and_entries(tmp_path: Path) -> None:
    override_settings(api={"max_files": 3})
    archive = zip_of({"1": b"1", "2": b"2"})
    with pytest.raises(ProblemError) as refused:
        expand_zips([part(tmp_path, "z", archive), part(tmp_path, "a", b"a"),
                     part(tmp_path, "b", b"b")], tmp_path)
    assert refused.value.status == 413
    assert len(expand_zips([part(tmp_path, "y", archive), part(tmp_path, "c", b"c")],
                           tmp_path)) == 3


def test_corrupt_zip_is_415(tmp_path: Path) -> None:
    broken = zip_of({"a.dcm": b"x" * 1000})[:-30]  # central directory cut off
    with pytest.raises(ProblemError) as refused:
        expand_zips([part(tmp_path, "z", broken)], tmp_path)
    assert refused.value.status == 415


def test_stored_zip_entries_are_counted_too(tmp_path: Path) -> None:
    override_settings(api={"max_expanded_bytes": 2048})
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.dcm", b"\0" * 4096)
    with pytest.raises(ProblemError) as refused:
        expand_zips([UploadedFile("s.zip", path, path.stat().st_size)], tmp_path)
    assert refused.value.status == 413


def test_looks_like_dicom(tmp_path: Path) -> None:
    assert looks_like_dicom(part(tmp_path, "d", b"\0" * 128 + b"DICM" + b"rest").path)
    assert not looks_like_dicom(part(tmp_path, "n", b"DICM").path)
