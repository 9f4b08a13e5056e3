"""Errors of the storage layer; each edge translates them (DIMSE status, HTTP problem)."""

from __future__ import annotations

from hub.errors import HubError, InputError


class InvalidUIDError(InputError):
    """A UID attribute does not follow the DICOM UID grammar (PS3.5 9.1); nothing is written."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        super().__init__(
            f"{field} {shown} is not a valid DICOM UID: expected {expected}",
            f"send the instance with a valid {field} (digits and dots, at most 64 characters)",
        )


class MissingAttributeError(InputError):
    """A required attribute (a Study/Series/SOP Instance UID) is absent or empty."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(
            f"the instance has no {field}",
            f"send the instance with its {field}; the hub files instances by it",
        )


class StorageError(HubError):
    """The instance could not be written or indexed (disk, database)."""


class OutOfSpaceError(StorageError):
    """Free disk space in the data directory is below the ``[storage] min_free_mb`` watermark.

    The SCP answers "out of resources" (0xA700) and refuses new associations.
    """
