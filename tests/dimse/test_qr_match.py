"""C-FIND attribute matching (hub.dimse.qr_match): universal, lists, wildcards, ranges."""

from __future__ import annotations

import pytest
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from hub.dimse.qr_match import compile_matcher, values_of


@pytest.mark.parametrize("value", ["", None, [], "*", "  "])
def test_empty_or_star_is_universal(value: object):
    assert compile_matcher("PN", value) is None
    assert compile_matcher("LO", value) is None


def test_lone_star_is_universal_on_any_vr():
    assert compile_matcher("UI", "*") is None
    assert compile_matcher("DA", "*") is None
    match = compile_matcher("UI", ["*", "1.2.3"])  # in a UID list "*" is no wildcard
    assert match is not None and not match("1.2.4")


def test_uid_list():
    match = compile_matcher("UI", ["1.2.3", "1.2.4"])
    assert match is not None
    assert match("1.2.3") and match("1.2.4")
    assert not match("1.2.5") and not match("1.2.34") and not match("")


@pytest.mark.parametrize(("query", "value", "expected"), [
    ("Doe*", "Doe^Jane", True),
    ("doe*", "DOE^JANE", True),  # person names: case-insensitive
    ("D?e^Jane", "Doe^Jane", True),
    ("D?e^Jane", "Dooe^Jane", False),
    ("*Jane", "Doe^Jane", True),
    ("Doe", "Doe^Jane", False),  # single value: the whole name
    ("Do.*", "Doe^Jane", False),  # regex characters are literal
    ("Doe*", "", False),
    ("Doe*", None, False),
])
def test_person_name_wildcards(query: str, value: object, expected: bool):
    match = compile_matcher("PN", query)
    assert match is not None
    assert match(PersonName(value) if isinstance(value, str) else value) is expected


def test_text_is_case_sensitive_except_names():
    match = compile_matcher("LO", "chest*")
    assert match is not None
    assert match("chest ct") and not match("Chest CT")


def test_text_padding_is_ignored():
    match = compile_matcher("SH", "ACC1 ")
    assert match is not None and match("ACC1") and match(" ACC1\x00")


@pytest.mark.parametrize(("query", "inside", "outside"), [
    ("20240101-20241231", ["20240101", "20240615", "20241231"], ["20231231", "20250101"]),
    ("-20240101", ["19991231", "20240101"], ["20240102"]),
    ("20240101-", ["20240101", "20991231"], ["20231231"]),
    ("20240315", ["20240315"], ["20240314", "20240316"]),
])
def test_date_ranges(query: str, inside: list[str], outside: list[str]):
    match = compile_matcher("DA", query)
    assert match is not None
    assert all(match(value) for value in inside)
    assert not any(match(value) for value in outside)
    assert not match("") and not match(None)


def test_old_style_dates_still_compare():
    match = compile_matcher("DA", "20240101-20241231")
    assert match is not None and match("2024.06.15")


@pytest.mark.parametrize(("query", "inside", "outside"), [
    ("080000-120000", ["080000", "100000.5", "120000"], ["075959", "120001"]),
    ("08-12", ["0800", "125959.999", "12"], ["075959", "130000"]),
    ("-0930", ["000000", "093059"], ["093100"]),
    ("1030", ["103000", "103059.123"], ["103100"]),
])
def test_time_ranges(query: str, inside: list[str], outside: list[str]):
    match = compile_matcher("TM", query)
    assert match is not None
    assert all(match(value) for value in inside), [match(v) for v in inside]
    assert not any(match(value) for value in outside)


def test_time_with_colons():
    match = compile_matcher("TM", "080000-120000")
    assert match is not None and match("10:30:00")


def test_datetime_range_and_offset():
    match = compile_matcher("DT", "20240101120000-20240101130000")
    assert match is not None
    assert match("20240101123000") and not match("20240101140000")
    day = compile_matcher("DT", "20240101+0100")
    assert day is not None and day("20240101235959")


@pytest.mark.parametrize(("vr", "query"), [
    ("DA", "2024-01-01"),
    ("DA", "yesterday"),
    ("DA", "-"),
    ("DA", "2024010"),
    ("TM", "25h"),
    ("DT", "2024x"),
])
def test_malformed_ranges_raise(vr: str, query: str):
    with pytest.raises(ValueError, match="is not (YYYY|HH)"):
        compile_matcher(vr, query)


def test_multiple_query_values_match_any():
    match = compile_matcher("CS", MultiValue(str, ["CT", "MR"]))
    assert match is not None
    assert match("MR") and not match("SR")


def test_multi_valued_attribute_matches_any_value():
    match = compile_matcher("CS", "SR")
    assert match is not None
    assert match(["CT", "SR"]) and not match(["CT", "MR"])
    wildcard = compile_matcher("CS", "DERIV*")
    assert wildcard is not None and wildcard(MultiValue(str, ["DERIVED", "SECONDARY"]))


def test_numbers_compare_as_numbers():
    match = compile_matcher("IS", "3")
    assert match is not None
    assert match("3") and match(" 03") and match(3) and not match("4")
    decimal = compile_matcher("DS", "1.50")
    assert decimal is not None and decimal("1.5")


def test_sequences_are_not_matched():
    assert compile_matcher("SQ", [object()]) is None


def test_values_of():
    assert values_of(PersonName("Doe^Jane")) == ["Doe^Jane"]
    assert values_of(MultiValue(str, ["A ", "", "B"])) == ["A", "B"]
    assert values_of(b"CT ") == ["CT"]
    assert values_of(None) == [] and values_of(7) == ["7"]
