"""The hub's one exception tree.

Every error the hub raises on purpose derives from :class:`HubError` and carries a ``cause``
(what went wrong, one line) and a ``fix`` (what the reader can do about it). Each edge translates
it: the CLI prints ``error: <cause>`` / ``fix: <fix>`` and exits non-zero, the DIMSE layer answers
a status, the HTTP layer a problem+json document.
"""

from __future__ import annotations


class HubError(Exception):
    """Base class of all deliberate hub errors."""

    #: CLI exit code used when this error reaches the command line.
    exit_code: int = 1

    def __init__(self, cause: str, fix: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def __str__(self) -> str:
        return self.cause if not self.fix else f"{self.cause} (fix: {self.fix})"


class ConfigError(HubError):
    """Settings or the TOML configuration file are invalid."""

    exit_code = 3


class ManifestError(HubError, ValueError):
    """A model manifest (or another SDK declaration) has a bad value.

    ``field`` names the offending field, ``value`` the value given and ``expected`` what was
    expected, as highdicom does for its constructors.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(
            f"manifest field '{field}' has value {value!r}, expected {expected}",
            f"change '{field}' in the plugin's manifest to {expected}",
        )


class PluginError(HubError):
    """A plugin could not be loaded, validated or found."""

    exit_code = 4


class UnknownModelError(PluginError):
    """No enabled model has the requested name."""


class InputError(HubError):
    """The DICOM input cannot be used (not DICOM, mixed series, bad geometry, ...)."""

    exit_code = 2


class NotAcceptedError(InputError):
    """The series is valid DICOM but the model's manifest does not accept it."""


class InferenceError(HubError):
    """The model failed while preparing, running or interpreting its tensors."""

    exit_code = 5


class ResultError(HubError):
    """The SEG/SR result objects could not be built or written."""

    exit_code = 6
