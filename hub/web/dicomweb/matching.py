"""QIDO-RS query parameters (PS3.18 8.3.4): parsing them and matching attribute values.

A query names attributes by keyword (``PatientName``) or tag (``00100010``). Matching
follows PS3.4 C.2.2.2: an empty value asks only for the attribute to be returned; UID values
are lists (``,`` or ``\\`` separated); DA/TM/DT values may be ranges (``20200101-20201231``,
``-20201231``, ``20200101-``); other values match literally with the wildcards ``*`` and ``?``.
Person names and descriptions match case-insensitively (what a search box needs);
``fuzzymatching`` is accepted and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

Level = Literal["study", "series", "instance"]

#: Most results one search answers; more are announced with a ``Warning`` header.
MAX_RESULTS = 10000

#: Patient and study attributes (answered from any instance of the study).
STUDY_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDsSequence",
        "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge", "PatientComments",
        "PatientSize", "PatientWeight", "EthnicGroup",
        "StudyDate", "StudyTime", "AccessionNumber", "StudyID", "StudyDescription",
        "StudyInstanceUID", "ReferringPhysicianName", "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy", "AdmittingDiagnosesDescription",
        "IssuerOfAccessionNumberSequence", "ProcedureCodeSequence",
        "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    }
)
#: Series attributes (answered from any instance of the series).
SERIES_KEYWORDS = frozenset(
    {
        "Modality", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID", "SeriesDate",
        "SeriesTime", "BodyPartExamined", "Laterality", "ProtocolName", "FrameOfReferenceUID",
        "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
        "PerformedProcedureStepDescription", "RequestAttributesSequence", "Manufacturer",
        "ManufacturerModelName", "InstitutionName", "StationName", "OperatorsName",
        "PerformingPhysicianName", "NumberOfSeriesRelatedInstances",
    }
)
#: What each level returns without ``includefield`` (PS3.18 Tables 10.6.3-3..5, plus the
#: descriptions and dates OHIF shows).
DEFAULTS: dict[Level, tuple[str, ...]] = {
    "study": (
        "SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber",
        "InstanceAvailability", "ModalitiesInStudy", "ReferringPhysicianName",
        "TimezoneOffsetFromUTC", "RetrieveURL", "PatientName", "PatientID", "PatientBirthDate",
        "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
        "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
    ),
    "series": (
        "SpecificCharacterSet", "Modality", "TimezoneOffsetFromUTC", "SeriesDescription",
        "RetrieveURL", "StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "SeriesDate",
        "SeriesTime", "BodyPartExamined", "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    ),
    "instance": (
        "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "InstanceAvailability",
        "TimezoneOffsetFromUTC", "RetrieveURL", "StudyInstanceUID", "SeriesInstanceUID",
        "InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames",
    ),
}
RESERVED = frozenset({"limit", "offset", "includefield", "fuzzymatching"})
_CASE_INSENSITIVE_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UC", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_LIST_VRS = frozenset({"UI", "CS"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


class AttributeSource(Protocol):
    """Where matched values come from (a Dataset, or computed attributes over a header)."""

    def get(self, tag: BaseTag) -> DataElement | None: ...


class QueryError(ValueError):
    """A query parameter is malformed or unknown (answered 400)."""


def level_of(keyword: str) -> Level:
    """The information-model level an attribute belongs to."""
    if keyword in STUDY_KEYWORDS:
        return "study"
    if keyword in SERIES_KEYWORDS:
        return "series"
    return "instance"


def resolve_attribute(name: str) -> BaseTag:
    """The tag named by a keyword or eight hex digits; :class:`QueryError` if neither."""
    text = name.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{8}", text):
        return Tag(int(text, 16))
    tag = tag_for_keyword(text)
    if tag is None:
        raise QueryError(
            f"query parameter {name!r} is neither a DICOM keyword, a tag (8 hex digits) nor "
            f"one of {', '.join(sorted(RESERVED))}"
        )
    return Tag(tag)


def vr_of(tag: BaseTag) -> str:
    """The dictionary VR of ``tag`` (``UN`` for private or unknown tags)."""
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"


@dataclass(frozen=True)
class Key:
    """One attribute of a query: what to match (``value``; empty matches all) and return."""

    tag: BaseTag
    keyword: str
    vr: str
    value: str

    @property
    def universal(self) -> bool:
        return self.value in ("", "*")

    def matches(self, element_value: Any) -> bool:
        """Whether an entity whose attribute has ``element_value`` (None: absent) matches."""
        if self.universal:
            return True
        values = _as_strings(element_value)
        if not values:
            return False
        if self.vr in _RANGE_VRS and "-" in self.value:
            return any(_in_range(v, self.value, self.vr) for v in values)
        alternatives = _split_list(self.value) if self.vr in _LIST_VRS else [self.value]
        return any(_match_one(v, alt, self.vr) for v in values for alt in alternatives)

    def uids(self) -> list[str]:
        """The UID list of a UI key (empty when universal)."""
        return [] if self.universal else _split_list(self.value)


@dataclass
class Query:
    """A parsed QIDO-RS request."""

    keys: list[Key] = field(default_factory=list)
    include: set[BaseTag] = field(default_factory=set)
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    warnings: list[str] = field(default_factory=list)

    def key(self, keyword: str) -> Key | None:
        """The key for ``keyword`` if the query has one with a value."""
        for key in self.keys:
            if key.keyword == keyword and not key.universal:
                return key
        return None

    def filters(self, served: Iterable[str] = ()) -> list[Key]:
        """Keys with a value, except those the index already answered (``served``)."""
        skip = set(served)
        return [key for key in self.keys if not key.universal and key.keyword not in skip]

    def matches(self, source: AttributeSource, served: Iterable[str] = ()) -> bool:
        """Whether ``source`` (header plus computed attributes) matches every filter."""
        for key in self.filters(served):
            element = source.get(key.tag)
            if not key.matches(element.value if element is not None else None):
                return False
        return True


def parse_query(params: Iterable[tuple[str, str]], level: Level) -> Query:
    """Parse QIDO query parameters for a search at ``level``; :class:`QueryError` if bad."""
    query = Query()
    for name, value in params:
        lowered = name.lower()
        if lowered == "limit":
            query.limit = _non_negative(name, value)
        elif lowered == "offset":
            query.offset = _non_negative(name, value)
        elif lowered == "fuzzymatching":
            continue
        elif lowered == "includefield":
            for item in filter(None, (part.strip() for part in re.split(r"[,\\]", value))):
                if item.lower() == "all":
                    query.include_all = True
                else:
                    query.include.add(_plain_attribute(item))
        else:
            tag = _plain_attribute(name)
            keyword = keyword_for_tag(tag) or f"{int(tag):08X}"
            key = Key(tag, keyword, vr_of(tag), value.strip())
            if not key.universal and not _answerable(keyword, level):
                query.warnings.append(
                    f"matching on {keyword} is not supported in a {level} search; ignored"
                )
                continue
            query.keys.append(key)
    return query


def _answerable(keyword: str, level: Level) -> bool:
    """Whether a value of ``keyword`` can be matched by a search at ``level``."""
    if level == "study":
        return level_of(keyword) == "study" or keyword == "Modality"
    if level == "series":
        return level_of(keyword) in ("study", "series") and keyword not in {
            "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
        }
    return keyword not in {
        "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
    }


def _plain_attribute(name: str) -> BaseTag:
    if "." in name:
        raise QueryError(f"sequence attribute paths ({name!r}) are not supported")
    return resolve_attribute(name)


def _non_negative(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise QueryError(f"{name} must not be negative, got {number}")
    return number


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\\]", value) if part.strip()]


def _as_strings(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(item) for item in value if item is not None and str(item) != ""]
    return [str(value)]


def _match_one(actual: str, wanted: str, vr: str) -> bool:
    if vr in ("IS", "DS", "US", "SS", "UL", "SL", "FL", "FD"):
        try:
            return float(actual) == float(wanted)
        except ValueError:
            return actual == wanted
    flags = re.IGNORECASE if vr in _CASE_INSENSITIVE_VRS else 0
    if "*" in wanted or "?" in wanted:
        pattern = "".join(
            ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in wanted
        )
        return re.fullmatch(pattern, actual, flags | re.DOTALL) is not None
    if flags:
        return actual.casefold() == wanted.casefold()
    return actual == wanted


def _in_range(actual: str, wanted: str, vr: str) -> bool:
    """Range matching of DA/TM/DT; a partial bound (``1200``) covers its whole span."""
    low, _, high = wanted.partition("-")
    value, low, high = (part.replace(":", "").strip() for part in (actual, low, high))
    if low and value < low:
        return False
    return not high or value[: len(high)] <= high


def is_binary(vr: str) -> bool:
    """Whether a VR holds bulk binary data (never inlined in QIDO answers)."""
    return vr in _BINARY_VRS
