"""The outcomes a routing decision can have (shared by the rules and the decision table)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What one decision says."""

    COMPLETED = "completed"  #: the series completed (why, which run)
    MATCHED = "matched"  #: a route matched the series
    NOT_MATCHED = "not_matched"  #: a route did not match
    ACCEPTED = "accepted"  #: a model was chosen (``routes test``; becomes ``submitted``)
    SUBMITTED = "submitted"  #: a model's job was submitted
    SKIPPED = "skipped"  #: a model was not run, with the reason
    NOT_ROUTED = "not_routed"  #: the series goes to no model (no route matched, results, ...)
    ERROR = "error"  #: the series could not be evaluated (unreadable file, ...)
