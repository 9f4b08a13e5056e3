"""Commonly used codes, so plugins need not look them up.

Values from SNOMED CT and DICOM PS3.16 (CID 7150 segmentation property categories, CID 7151
types, CID 7300 units are UCUM).
"""

from hub.sdk.manifest import Code

CODES = {
    "anatomical_structure": Code("91723000", "SCT", "Anatomical Structure"),
    "lung": Code("39607008", "SCT", "Lung"),
    "brain": Code("12738006", "SCT", "Brain"),
    "left": Code("7771000", "SCT", "Left"),
    "right": Code("24028007", "SCT", "Right"),
    "volume": Code("118565006", "SCT", "Volume"),
    "artificial_intelligence": Code("113109", "DCM", "Artificial Intelligence"),
    "yes": Code("373066001", "SCT", "Yes"),
    "no": Code("373067005", "SCT", "No"),
    "finding": Code("121071", "DCM", "Finding"),
}

UNITS = {
    "ml": Code("ml", "UCUM", "milliliter"),
    "mm": Code("mm", "UCUM", "millimeter"),
    "mm3": Code("mm3", "UCUM", "cubic millimeter"),
    "cm3": Code("cm3", "UCUM", "cubic centimeter"),
    "hu": Code("[hnsf'U]", "UCUM", "Hounsfield unit"),
    "ratio": Code("1", "UCUM", "no units"),
}
