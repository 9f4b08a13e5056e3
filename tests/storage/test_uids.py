"""The UID grammar: the only strings storage paths are built from."""

from __future__ import annotations

import pytest

from hub.errors import InputError
from hub.storage.errors import InvalidUIDError
from hub.storage.uids import is_valid_uid, validate_uid


@pytest.mark.parametrize("value", ["0", "1.2.3", "1.2.840.10008.1.2.1", "0.0.1", "1." * 31 + "1"])
def test_valid(value):
    assert validate_uid(value, "SOPInstanceUID") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1.2/../3",
        "1.2..3",
        "01.2",
        "1.02",
        ".1.2",
        "1.2.",
        "1.2.3 ",
        "1.2.3\x00",
        "1.2.3\n",
        "a.b",
        "..",
        "/etc/passwd",
        "1" * 65,
        "1." * 32 + "1",
        None,
        123,
    ],
)
def test_invalid(value):
    assert not is_valid_uid(value)
    with pytest.raises(InvalidUIDError) as info:
        validate_uid(value, "SeriesInstanceUID")
    assert isinstance(info.value, InputError)
    assert info.value.field == "SeriesInstanceUID"
    assert "SeriesInstanceUID" in info.value.cause
    assert repr(value)[:20] in info.value.cause
    assert info.value.fix


def test_64_characters_is_the_limit():
    assert is_valid_uid("1" * 64)
    assert not is_valid_uid("1" * 65)
