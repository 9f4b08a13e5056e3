"""Reading a TID 1500 Measurement Report (the hub's SR) into a printable structure.

Walks the SR content tree with pydicom, so it reads any TID 1500 report (ours or another
system's): each Measurement Group (125007) becomes a :class:`Group` with its tracking
identifier, finding, finding site, numeric measurements (value and UCUM unit) and qualitative
evaluations; the algorithm name and version (111001/111003) are found wherever they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

log = logging.getLogger(__name__)

MEASUREMENT_GROUP = "125007"
TRACKING_ID = "112039"
TRACKING_UID = "112040"
FINDING = "121071"
FINDING_SITE = "363698007"
ALGORITHM_NAME = "111001"
ALGORITHM_VERSION = "111003"
PROCEDURE = "121058"
REFERENCED_SEGMENT = "121191"
LATERALITY = "272741003"
#: CODE items that describe a group rather than evaluate it: finding, finding site,
#: laterality, finding category, algorithm family, derivation, procedure reported.
DESCRIPTIVE = {FINDING, FINDING_SITE, "G-C0E3", "272741003", "276214006", "111000", "121401",
               PROCEDURE}


@dataclass(frozen=True)
class Measurement:
    """One numeric measurement with its UCUM unit."""

    name: str
    value: float
    unit: str  # UCUM code, e.g. "ml"
    unit_meaning: str

    @property
    def display_value(self) -> str:
        return f"{self.value:,.2f}" if abs(self.value) < 1e6 else f"{self.value:.4g}"

    @property
    def display_unit(self) -> str:
        return "" if self.unit in ("1", "{ratio}") else self.unit


@dataclass(frozen=True)
class Evaluation:
    """A qualitative evaluation (a coded answer), e.g. "Nodule: Yes"."""

    name: str
    value: str


@dataclass
class Group:
    """One measurement group: what was measured where."""

    tracking_id: str = ""
    finding: str = ""
    finding_site: str = ""
    segment_number: int | None = None
    measurements: list[Measurement] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)


@dataclass
class SrReport:
    """The readable content of one SR document."""

    sop_instance_uid: str
    series_description: str = ""
    content_date: str = ""
    content_time: str = ""
    procedure: str = ""
    algorithm_name: str = ""
    algorithm_version: str = ""
    manufacturer: str = ""
    groups: list[Group] = field(default_factory=list)

    @property
    def measurement_count(self) -> int:
        return sum(len(g.measurements) for g in self.groups)


def _code(item: Dataset, keyword: str) -> tuple[str, str]:
    """(CodeValue, CodeMeaning) of the first item of a code sequence, or ("", "")."""
    sequence = item.get(keyword)
    if not sequence:
        return "", ""
    code = sequence[0]
    value = code.get("CodeValue") or code.get("LongCodeValue") or code.get("URNCodeValue") or ""
    return str(value), str(code.get("CodeMeaning", ""))


def _concept(item: Dataset) -> tuple[str, str]:
    return _code(item, "ConceptNameCodeSequence")


def _walk(items: object) -> list[Dataset]:
    """Every content item below ``items``, depth first."""
    found: list[Dataset] = []
    for item in items or []:  # type: ignore[attr-defined]
        found.append(item)
        found.extend(_walk(item.get("ContentSequence")))
    return found


def _measurement(item: Dataset) -> Measurement | None:
    values = item.get("MeasuredValueSequence")
    if not values:
        return None  # a NUM without a value (e.g. "not measurable")
    measured = values[0]
    unit, unit_meaning = _code(measured, "MeasurementUnitsCodeSequence")
    try:
        number = float(measured.NumericValue)
    except (AttributeError, TypeError, ValueError):
        return None
    return Measurement(_concept(item)[1], number, unit, unit_meaning)


def _group(container: Dataset) -> Group:
    group = Group()
    for item in container.get("ContentSequence") or []:
        value, meaning = _concept(item)
        kind = item.get("ValueType", "")
        if kind == "TEXT" and value == TRACKING_ID:
            group.tracking_id = str(item.get("TextValue", ""))
        elif kind == "CODE" and value == FINDING:
            group.finding = _code(item, "ConceptCodeSequence")[1]
        elif kind == "CODE" and value == FINDING_SITE:
            site = _code(item, "ConceptCodeSequence")[1]
            sides = [_code(m, "ConceptCodeSequence")[1] for m in item.get("ContentSequence") or []
                     if _concept(m)[0] == LATERALITY]
            group.finding_site = " ".join([*sides[:1], site]).strip()
        elif kind == "CODE" and value not in DESCRIPTIVE:
            group.evaluations.append(Evaluation(meaning, _code(item, "ConceptCodeSequence")[1]))
        elif kind == "NUM":
            measurement = _measurement(item)
            if measurement is not None:
                group.measurements.append(measurement)
        elif kind == "IMAGE" and value == REFERENCED_SEGMENT:
            for ref in item.get("ReferencedSOPSequence") or []:
                number = ref.get("ReferencedSegmentNumber")
                if number is not None:
                    group.segment_number = int(number)
    return group


def read_report(path: str | Path) -> SrReport:
    """Read one SR file; raises ``ValueError`` when it is not a readable SR."""
    try:
        ds = dcmread(path)
    except (OSError, InvalidDicomError) as exc:
        raise ValueError(f"cannot read SR {Path(path).name}: {exc}") from exc
    if ds.get("Modality") != "SR" or "ContentSequence" not in ds:
        raise ValueError(f"{Path(path).name} is not a structured report")
    report = SrReport(
        sop_instance_uid=str(ds.SOPInstanceUID),
        series_description=str(ds.get("SeriesDescription", "")),
        content_date=str(ds.get("ContentDate", "")),
        content_time=str(ds.get("ContentTime", "")),
        manufacturer=str(ds.get("Manufacturer", "")),
    )
    items = _walk(ds.ContentSequence)
    for item in items:
        value, _ = _concept(item)
        kind = item.get("ValueType", "")
        if kind == "CONTAINER" and value == MEASUREMENT_GROUP:
            report.groups.append(_group(item))
        elif kind == "TEXT" and value == ALGORITHM_NAME and not report.algorithm_name:
            report.algorithm_name = str(item.get("TextValue", ""))
        elif kind == "TEXT" and value == ALGORITHM_VERSION and not report.algorithm_version:
            report.algorithm_version = str(item.get("TextValue", ""))
        elif kind == "CODE" and value == PROCEDURE and not report.procedure:
            report.procedure = _code(item, "ConceptCodeSequence")[1]
    return report
