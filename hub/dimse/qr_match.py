"""C-FIND attribute matching (DICOM PS3.4 C.2.2.2), as pure functions over values.

:func:`compile_matcher` turns one key of a request identifier into a predicate over the value an
entity holds, checking the key's format once up front:

* **universal**: an empty key (or a lone ``*``, on any VR) matches everything and only asks
  for the value back;
* **list of UIDs** (``UI``): any of the backslash-separated UIDs, exactly;
* **wildcards** on text VRs (``PN``, ``LO``, ``SH``, ``CS``, ...): ``*`` any run of characters,
  ``?`` one character; person names compare case-insensitively (as Orthanc does by default),
  everything else case-sensitively;
* **ranges** on ``DA``/``TM``/``DT``: ``A-B``, ``-B`` and ``A-`` (inclusive), or one value;
* **numbers** (``IS``, ``DS``, ``US``, ...) compare as numbers.

A key with several values (``CT\\MR``) matches when any of them does; an entity attribute with
several values matches when any of them does. An entity without a value matches only ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

#: ``predicate(entity_value) -> bool``.
Matcher = Callable[[object], bool]

#: VRs on which ``*`` and ``?`` are wildcards (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "AS"})
#: VRs matched as numbers.
NUMERIC_VRS = frozenset({"IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
#: VRs with range matching.
RANGE_VRS = frozenset({"DA", "TM", "DT"})

_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_DATETIME = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?")
_FORMATS = {
    "DA": (_DATE, "YYYYMMDD[-YYYYMMDD]"),
    "TM": (_TIME, "HHMMSS[-HHMMSS]"),
    "DT": (_DATETIME, "YYYYMMDDHHMMSS[-YYYYMMDDHHMMSS]"),
}


def values_of(value: object) -> list[str]:
    """The non-empty text values of an element value (multi-values split, padding stripped)."""
    if value is None:
        return []
    items: Iterable[object]
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = value  # MultiValue or list; a PersonName is one value
    else:
        items = [value]
    texts = []
    for item in items:
        if item is None:
            continue
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
        text = text.replace("\x00", "").strip()
        if text:
            texts.append(text)
    return texts


def compile_matcher(vr: str, value: object) -> Matcher | None:
    """The predicate for a key of ``vr`` with query ``value``; ``None`` for universal matching.

    Raises :class:`ValueError` naming the expected form when a date/time key is malformed.
    """
    wanted = values_of(value)
    if not wanted or wanted == ["*"] or (vr in WILDCARD_VRS and "*" in wanted):
        return None  # a lone "*" is universal whatever the VR (some viewers send it for UIDs)
    if vr == "SQ":
        return None  # sequence matching is not supported: the key is only returned
    if vr in RANGE_VRS:
        ranges = [_parse_range(vr, text) for text in wanted]
        return lambda actual: any(_in_range(vr, got, ranges) for got in values_of(actual))
    if vr in NUMERIC_VRS:
        numbers = [_number(text) for text in wanted]
        return lambda actual: any(_number(got) in numbers for got in values_of(actual))
    if vr in WILDCARD_VRS:
        flags = re.IGNORECASE if vr == "PN" else 0
        patterns = [re.compile(_wildcard_regex(text), flags | re.DOTALL) for text in wanted]
        return lambda actual: any(
            pattern.fullmatch(got) for pattern in patterns for got in values_of(actual)
        )
    exact = set(wanted)
    return lambda actual: any(got in exact for got in values_of(actual))


def _wildcard_regex(text: str) -> str:
    """``text`` with ``*``/``?`` as wildcards and everything else literal, as a regex."""
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _parse_range(vr: str, text: str) -> tuple[str, str]:
    """``(low, high)`` bounds of a range key, normalised for string comparison."""
    pattern, expected = _FORMATS[vr]
    low, dash, high = text.partition("-") if vr != "DT" else _split_datetime_range(text)
    if not dash:
        high = low
    for part in (low, high):
        if part and not pattern.fullmatch(part):
            raise ValueError(f"{text[:16]!r} is not {expected}")
    if not low and not high:
        raise ValueError(f"{text[:16]!r} is not {expected}")
    return _normalise(vr, low, upper=False), _normalise(vr, high, upper=True)


def _split_datetime_range(text: str) -> tuple[str, str, str]:
    """Split a DT range on its range dash, not on a ``-ZZZZ`` time-zone offset."""
    match = re.fullmatch(r"([^-]*(?:-\d{4})?)-(.*)", text)
    if match and (not match.group(2) or match.group(2)[0].isdigit()):
        return match.group(1), "-", match.group(2)
    return text, "", ""


def _normalise(vr: str, text: str, *, upper: bool) -> str:
    """A fixed-width form of a DA/TM/DT value; missing parts are the range's floor/ceiling."""
    if not text:
        return "~" if upper else ""
    fill = "9" if upper else "0"
    if vr == "DA":
        return text.ljust(8, fill)
    if vr == "DT":
        text = re.sub(r"[+-]\d{4}$", "", text)  # offsets are ignored
    whole, _, fraction = text.partition(".")
    return whole.ljust(6 if vr == "TM" else 14, fill) + "." + fraction.ljust(6, fill)


def _in_range(vr: str, actual: str, ranges: list[tuple[str, str]]) -> bool:
    if vr == "TM":
        actual = actual.replace(":", "")  # ACR-NEMA style HH:MM:SS
    elif vr == "DA":
        actual = actual.replace(".", "").replace("-", "")
    value = _normalise(vr, actual, upper=False)
    return any(low <= value <= high for low, high in ranges)
