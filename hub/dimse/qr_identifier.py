"""Query/Retrieve request identifiers: the levels, the keys, and the checks of one identifier.

:func:`parse_query` turns the identifier of a C-FIND, C-GET or C-MOVE request into a
:class:`Query` (information model root, level, keys with their compiled matchers) or raises
:class:`QueryError`, whose ``cause`` (at most 64 characters) goes back to the peer as the
ErrorComment of a failure status.

Levels are hierarchical (PATIENT > STUDY > SERIES > IMAGE) but keys of upper levels are
optional, so relational-style queries work too; keys of a level below the query level are
returned empty and never matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.tag import BaseTag, Tag
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from hub.dimse.qr_match import Matcher, compile_matcher
from hub.errors import HubError

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
RANK = {level: rank for rank, level in enumerate(LEVELS)}
#: The top level of each information model, by SOP Class UID.
ROOTS = {
    str(PatientRootQueryRetrieveInformationModelFind): "PATIENT",
    str(PatientRootQueryRetrieveInformationModelGet): "PATIENT",
    str(PatientRootQueryRetrieveInformationModelMove): "PATIENT",
    str(StudyRootQueryRetrieveInformationModelFind): "STUDY",
    str(StudyRootQueryRetrieveInformationModelGet): "STUDY",
    str(StudyRootQueryRetrieveInformationModelMove): "STUDY",
}
UNIQUE_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
_KEYS_BY_LEVEL = {
    "PATIENT": (
        "PatientName PatientID IssuerOfPatientID OtherPatientIDsSequence PatientBirthDate "
        "PatientBirthTime PatientSex NumberOfPatientRelatedStudies "
        "NumberOfPatientRelatedSeries NumberOfPatientRelatedInstances"
    ),
    "STUDY": (
        "StudyInstanceUID StudyDate StudyTime AccessionNumber StudyID StudyDescription "
        "ReferringPhysicianName ModalitiesInStudy SOPClassesInStudy PatientAge PatientSize "
        "PatientWeight NumberOfStudyRelatedSeries NumberOfStudyRelatedInstances"
    ),
    "SERIES": (
        "SeriesInstanceUID Modality SeriesNumber SeriesDescription SeriesDate SeriesTime "
        "BodyPartExamined ProtocolName Laterality PerformedProcedureStepStartDate "
        "NumberOfSeriesRelatedInstances"
    ),
    "IMAGE": (
        "SOPInstanceUID SOPClassUID InstanceNumber ContentDate ContentTime AcquisitionNumber "
        "ImageType Rows Columns NumberOfFrames"
    ),
}
#: The level each known key belongs to; keys not listed belong to the query level.
KEY_LEVEL = {kw: level for level, text in _KEYS_BY_LEVEL.items() for kw in text.split()}
#: Keys answered by the index (or the hub itself) at each level: no file is read for them.
INDEX_KEYS = {
    "PATIENT": {"NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
                "NumberOfPatientRelatedInstances"},
    "STUDY": {"StudyInstanceUID", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances"},
    "SERIES": {"StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesDescription",
               "BodyPartExamined", "NumberOfSeriesRelatedInstances"},
    "IMAGE": {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
              "Modality"},
}
#: Keys the hub answers at every level.
HUB_KEYS = {"RetrieveAETitle", "InstanceAvailability"}
_SKIPPED = {"QueryRetrieveLevel", "SpecificCharacterSet"}

#: Failure statuses (PS3.4 C.4.1.1.4: Cxxx "unable to process"), each with an ErrorComment.
BAD_IDENTIFIER = 0xC000
INTERNAL_ERROR = 0xC002


class QueryError(HubError):
    """A request identifier the hub cannot process; ``cause`` goes back as the ErrorComment.

    ``loggable`` says the same without the key's value (which may be a patient's birth date).
    """

    def __init__(self, cause: str, fix: str = "", *, tag: BaseTag | None = None,
                 status: int = BAD_IDENTIFIER, loggable: str = "") -> None:
        super().__init__(cause, fix)
        self.tag = tag
        self.status = status
        self.loggable = loggable or cause


@dataclass
class Key:
    """One element of the identifier: returned always, matched when ``matcher`` is set."""

    element: DataElement
    level: str
    matcher: Matcher | None

    @property
    def keyword(self) -> str:
        """The element's DICOM keyword ("" for unknown tags)."""
        return str(self.element.keyword)


@dataclass
class Query:
    """A checked identifier: information model root, level and keys."""

    root: str
    level: str
    keys: list[Key]
    #: The hub's AE title, returned for RetrieveAETitle.
    ae_title: str = ""

    def matching(self) -> list[Key]:
        """The keys that restrict the result (the rest are only returned)."""
        return [key for key in self.keys if key.matcher is not None]

    def needs_header(self, *, retrieve: bool = False) -> bool:
        """Whether a stored file must be read (some key is not answered by the index)."""
        keys = self.matching() if retrieve else self.keys
        served = INDEX_KEYS[self.level] | HUB_KEYS
        return any(key.keyword not in served and RANK[key.level] <= RANK[self.level]
                   for key in keys)


def parse_query(identifier: Dataset, sop_class: str, *, retrieve: bool = False,
                ae_title: str = "") -> Query:
    """Check ``identifier`` for the information model of ``sop_class``.

    Raises :class:`QueryError` for a missing or wrong QueryRetrieveLevel, a malformed key and,
    for a retrieve, a missing unique key of the level (so an empty key never moves it all).
    """
    root = ROOTS.get(str(sop_class))
    if root is None:
        raise QueryError(f"SOP class {sop_class} is not a Q/R information model")
    raw = identifier.get("QueryRetrieveLevel")
    if raw is None or not str(raw).strip():
        raise QueryError("QueryRetrieveLevel is missing",
                         "add (0008,0052) QueryRetrieveLevel", tag=Tag(0x0008, 0x0052))
    level = str(raw).strip().upper()
    if level not in LEVELS or RANK[level] < RANK[root]:
        valid = "/".join(LEVELS[RANK[root]:])
        raise QueryError(f"QueryRetrieveLevel must be {valid}", tag=Tag(0x0008, 0x0052))
    try:
        keys = _keys(identifier, root, level)
    except QueryError:
        raise
    except Exception as exc:  # pydicom raises many kinds for an undecodable element
        raise QueryError(f"the identifier cannot be decoded: {type(exc).__name__}") from None
    query = Query(root, level, keys, ae_title)
    unique = UNIQUE_KEYS[level]
    if retrieve and not any(k.keyword == unique and k.matcher for k in keys):
        raise QueryError(f"a {level} retrieve needs {unique}", tag=Tag(unique))
    return query


def _keys(identifier: Dataset, root: str, level: str) -> list[Key]:
    keys = []
    for element in identifier:
        if element.tag.group in (0x0000, 0x0002) or element.tag.is_private:
            continue
        if element.keyword in _SKIPPED or element.tag.element == 0:
            continue
        key_level = KEY_LEVEL.get(str(element.keyword), level)
        if RANK[key_level] < RANK[root]:
            key_level = root  # Study Root: patient keys are study attributes
        matcher = None
        if RANK[key_level] <= RANK[level] and element.keyword not in HUB_KEYS:
            try:
                matcher = compile_matcher(element.VR, element.value)
            except (ValueError, TypeError) as exc:
                raise QueryError(f"{element.keyword}: {exc}"[:64], tag=element.tag,
                                 loggable=f"{element.keyword} is malformed") from None
        keys.append(Key(element, key_level, matcher))
    return keys
