"""The DICOM UID grammar (PS3.5 section 9.1); the only strings storage paths are built from."""

from __future__ import annotations

import re

from hub.storage.errors import InvalidUIDError

#: Components of digits, no leading zero except the single digit "0", separated by dots.
UID_PATTERN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
UID_MAX_LENGTH = 64
EXPECTED = "1-64 characters of digits and dots, components without leading zeros"


def is_valid_uid(value: object) -> bool:
    """Whether ``value`` is a string following the UID grammar."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= UID_MAX_LENGTH
        and UID_PATTERN.fullmatch(value) is not None
    )


def validate_uid(value: object, field: str) -> str:
    """Return ``value`` if it is a valid DICOM UID, else raise :class:`InvalidUIDError`.

    ``field`` is the attribute's keyword (``SOPInstanceUID``), named in the error with the value.
    Trailing padding (a NUL or space, as DICOM pads odd lengths) is not accepted here: pydicom
    strips it when decoding, so a value that still has it was not decoded from a dataset.
    """
    if not is_valid_uid(value):
        raise InvalidUIDError(field, value, EXPECTED)
    assert isinstance(value, str)
    return value
