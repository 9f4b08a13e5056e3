"""The SR's image library (TID 1600), built from the loaded series.

highdicom's ``MeasurementReport(referenced_images=...)`` repeats every descriptor (TID 1602 /
1604) in every entry, about a dozen content items per image; for a 200-slice CT that made the
SR several times slower to build, copy and write than everything else in it. A series shares
its modality, frame of reference, matrix, pixel spacing, orientation and slice thickness, so
those go once into the Image Library Group (TID 1600 allows descriptors at group level) and
each entry (TID 1601) carries only what differs: the image reference and its position.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
from highdicom.sr import CodedConcept, RelationshipTypeValues
from pydicom.sr.codedict import codes

from hub.sdk import Series

_ACQ = RelationshipTypeValues.HAS_ACQ_CONTEXT
_PIXELS = CodedConcept("{pixels}", "UCUM", "Pixels")
_UNITLESS = CodedConcept("{-1:1}", "UCUM", "{-1:1}")
_ORIENTATION = (
    codes.DCM.ImageOrientationPatientRowX,
    codes.DCM.ImageOrientationPatientRowY,
    codes.DCM.ImageOrientationPatientRowZ,
    codes.DCM.ImageOrientationPatientColumnX,
    codes.DCM.ImageOrientationPatientColumnY,
    codes.DCM.ImageOrientationPatientColumnZ,
)
_POSITION = (
    codes.DCM.ImagePositionPatientX,
    codes.DCM.ImagePositionPatientY,
    codes.DCM.ImagePositionPatientZ,
)
_MODALITY_MEANINGS = {
    "CT": "Computed Tomography",
    "MR": "Magnetic Resonance",
    "PT": "Positron emission tomography",
    "US": "Ultrasound",
    "CR": "Computed Radiography",
    "DX": "Digital Radiography",
    "MG": "Mammography",
    "NM": "Nuclear Medicine",
    "XA": "X-Ray Angiography",
    "OT": "Other",
}


def _num(name: CodedConcept, value: float, unit: CodedConcept) -> hd.sr.NumContentItem:
    return hd.sr.NumContentItem(
        name=name, value=float(value), unit=unit, relationship_type=_ACQ
    )


def _shared_descriptors(series: Series) -> list[hd.sr.ContentItem]:
    header = series.header
    modality = series.modality or "OT"
    items: list[hd.sr.ContentItem] = [
        hd.sr.CodeContentItem(
            name=codes.DCM.Modality,
            value=CodedConcept(modality, "DCM", _MODALITY_MEANINGS.get(modality, modality)),
            relationship_type=_ACQ,
        )
    ]
    if "FrameOfReferenceUID" in header:
        items.append(
            hd.sr.UIDRefContentItem(
                name=codes.DCM.FrameOfReferenceUID,
                value=header.FrameOfReferenceUID,
                relationship_type=_ACQ,
            )
        )
    _, rows, columns = series.volume.shape
    items += [
        _num(codes.DCM.PixelDataRows, rows, _PIXELS),
        _num(codes.DCM.PixelDataColumns, columns, _PIXELS),
    ]
    if series.has_geometry:
        millimetre = codes.UCUM.Millimeter
        items += [
            _num(codes.DCM.HorizontalPixelSpacing, series.spacing[2], millimetre),
            _num(codes.DCM.VerticalPixelSpacing, series.spacing[1], millimetre),
            _num(codes.DCM.SliceThickness, _thickness(series), millimetre),
        ]
        items += [
            _num(name, value, _UNITLESS)
            for name, value in zip(_ORIENTATION, series.orientation, strict=True)
        ]
    return items


def _thickness(series: Series) -> float:
    value = series.header.get("SliceThickness")
    return float(value) if value else float(series.spacing[0])


def _entries(series: Series) -> Sequence[hd.sr.ImageContentItem]:
    positions = {}
    for k, ref in enumerate(series.slices):
        if ref.frame_number is None and series.has_geometry:
            positions[ref.dataset_index] = series.positions[k]
    entries = []
    for index, ds in enumerate(series.datasets):
        item = hd.sr.ImageContentItem(
            name=CodedConcept("260753009", "SCT", "Source"),
            referenced_sop_class_uid=ds.SOPClassUID,
            referenced_sop_instance_uid=ds.SOPInstanceUID,
            relationship_type=RelationshipTypeValues.CONTAINS,
        )
        if index in positions:
            item.ContentSequence = hd.sr.ContentSequence(
                [
                    _num(name, value, codes.UCUM.Millimeter)
                    for name, value in zip(_POSITION, positions[index], strict=True)
                ]
            )
        entries.append(item)
    return entries


def image_library(series: Series) -> hd.sr.ContainerContentItem:
    """The Image Library container (TID 1600) listing every source image of ``series``."""
    group = hd.sr.ContainerContentItem(
        name=codes.DCM.ImageLibraryGroup,
        relationship_type=RelationshipTypeValues.CONTAINS,
    )
    group.ContentSequence = hd.sr.ContentSequence([*_shared_descriptors(series), *_entries(series)])
    library = hd.sr.ContainerContentItem(
        name=codes.DCM.ImageLibrary,
        relationship_type=RelationshipTypeValues.CONTAINS,
    )
    library.ContentSequence = hd.sr.ContentSequence([group])
    return library


def insert_library(report: hd.sr.MeasurementReport, library: hd.sr.ContainerContentItem) -> None:
    """Put ``library`` where TID 1500 has it: before the Imaging Measurements container."""
    content = report[0].ContentSequence
    for index, item in enumerate(content):
        if item.ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImagingMeasurements.value:
            content.insert(index, library)
            return
    content.append(library)
