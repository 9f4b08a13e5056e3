"""Deterministic result UIDs."""

from __future__ import annotations

import pytest

from hub.errors import ResultError
from hub.results.uids import RESULT_KINDS, is_valid_uid, result_uid, tracking_uid

SOURCE = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def test_same_inputs_same_uid_and_valid():
    for kind in RESULT_KINDS:
        uid = result_uid(SOURCE, "ct-lung-seg", "1.0.0", kind)
        assert uid == result_uid(SOURCE, "ct-lung-seg", "1.0.0", kind)
        assert uid.startswith("2.25.") and len(uid) <= 64 and is_valid_uid(uid)


def test_any_changed_input_changes_the_uid():
    base = result_uid(SOURCE, "ct-lung-seg", "1.0.0", "seg")
    assert base != result_uid(SOURCE, "ct-lung-seg", "1.0.1", "seg")
    assert base != result_uid(SOURCE, "ct-lung-sef", "1.0.0", "seg")
    assert base != result_uid(SOURCE + "1", "ct-lung-seg", "1.0.0", "seg")
    assert len({result_uid(SOURCE, "m", "1", kind) for kind in RESULT_KINDS}) == 4
    assert tracking_uid(SOURCE, "m", "1", "segment-1") != tracking_uid(
        SOURCE, "m", "1", "segment-2"
    )


def test_bad_kind_or_source_uid_raises():
    with pytest.raises(ResultError, match="kind"):
        result_uid(SOURCE, "m", "1", "pdf")
    with pytest.raises(ResultError, match="not a valid UID"):
        result_uid("1.2.03", "m", "1", "seg")
    with pytest.raises(ResultError, match="not a valid UID"):
        result_uid("1." + "2" * 70, "m", "1", "seg")
