"""Declarations a model plugin makes: coded concepts, tensors, segments, measurements, findings
and the manifest that ties them together.

Every class here validates in its constructor: an object that exists is valid, and a bad value
raises :class:`hub.errors.ManifestError` naming the field, the value and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hub.errors import ManifestError

#: Coding schemes a manifest may use. SCT = SNOMED CT, DCM = DICOM, UCUM = units, LN = LOINC.
CODING_SCHEMES = frozenset({"SCT", "DCM", "UCUM", "LN", "99PACSHUB"})

#: DICOM Modality (0008,0060) defined terms (PS3.3 C.7.3.1.1.1) accepted in manifests.
MODALITIES = frozenset(
    "AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EPS ES FID GM HC HD IO IOL IVOCT "
    "IVUS KER KO LEN LS MG MR M3D NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN PR PT "
    "PX REG RESP RF RG RTDOSE RTIMAGE RTPLAN RTRECORD RTSTRUCT RWV SEG SM SMR SR SRF STAIN "
    "TEXTUREMAP TG US VA XA XC".split()
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_DTYPES = ("float32", "float16", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")

OutputKind = Literal["SEG", "SR"]


@dataclass(frozen=True)
class Code:
    """A coded concept: ``Code("10200004", "SCT", "Liver")``.

    ``scheme`` must be one of :data:`CODING_SCHEMES`; SNOMED CT codes are numeric (SCTID).
    """

    value: str
    scheme: str
    meaning: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value or len(self.value) > 64:
            raise ManifestError("code.value", self.value, "a non-empty string of <= 64 chars")
        if self.scheme not in CODING_SCHEMES:
            raise ManifestError("code.scheme", self.scheme, f"one of {sorted(CODING_SCHEMES)}")
        if self.scheme == "SCT" and not self.value.isdigit():
            raise ManifestError("code.value", self.value, "a numeric SNOMED CT identifier")
        if not isinstance(self.meaning, str) or not self.meaning.strip() or len(self.meaning) > 64:
            raise ManifestError("code.meaning", self.meaning, "a non-empty string of <= 64 chars")

    def __str__(self) -> str:
        return f"({self.value}, {self.scheme}, \"{self.meaning}\")"


@dataclass(frozen=True)
class TensorSpec:
    """One model input: its graph name, shape and dtype.

    ``shape`` lists each axis as a fixed size (int) or ``None`` for a dynamic axis, e.g.
    ``(None, 1, None, None)`` for a 2D model taking a batch of single-channel slices.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ManifestError("inputs.name", self.name, "the non-empty name of a graph input")
        shape = tuple(self.shape)
        if not shape or any(d is not None and (not isinstance(d, int) or d < 1) for d in shape):
            raise ManifestError("inputs.shape", self.shape, "a tuple of positive ints or None")
        object.__setattr__(self, "shape", shape)
        if self.dtype not in _DTYPES:
            raise ManifestError("inputs.dtype", self.dtype, f"one of {list(_DTYPES)}")


@dataclass(frozen=True)
class SegmentSpec:
    """One label of a segmentation output.

    ``label`` is the value in the label map the plugin returns (1, 2, ...); ``category`` and
    ``type`` are the Segmented Property Category and Type codes (e.g. Anatomical Structure /
    Lung); ``laterality`` an optional modifier such as ``Code("7771000", "SCT", "Left")``.
    """

    label: int
    name: str
    category: Code
    type: Code
    laterality: Code | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, int) or not 1 <= self.label <= 255:
            raise ManifestError("segments.label", self.label, "an int from 1 to 255")
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 64:
            raise ManifestError("segments.name", self.name, "a non-empty label of <= 64 chars")
        for attr in ("category", "type"):
            if not isinstance(getattr(self, attr), Code):
                raise ManifestError(f"segments.{attr}", getattr(self, attr), "a Code")


@dataclass(frozen=True)
class MeasurementSpec:
    """A numeric measurement the model reports (goes into SR TID 1500).

    ``key`` is how ``postprocess`` names it; ``concept`` what is measured (e.g.
    ``Code("118565006", "SCT", "Volume")``); ``unit`` a UCUM code; ``segment_label`` ties a
    volumetric measurement to a segment so the SR references that SEG segment.
    """

    key: str
    concept: Code
    unit: Code
    segment_label: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", self.key):
            raise ManifestError("measurements.key", self.key, "a snake_case identifier")
        if not isinstance(self.unit, Code) or self.unit.scheme != "UCUM":
            raise ManifestError("measurements.unit", self.unit, "a Code with scheme 'UCUM'")


@dataclass(frozen=True)
class FindingSpec:
    """A qualitative finding (classifier output) reported as an SR qualitative evaluation.

    ``concept`` is the question (e.g. "Burned in annotation"), ``values`` maps each answer key
    ``postprocess`` may return to its code (e.g. ``{"present": Code("373066001", "SCT", "Yes")}``).
    """

    key: str
    concept: Code
    values: dict[str, Code]

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", self.key):
            raise ManifestError("findings.key", self.key, "a snake_case identifier")
        if not self.values or not all(isinstance(v, Code) for v in self.values.values()):
            raise ManifestError("findings.values", self.values, "a non-empty dict of key -> Code")


@dataclass(frozen=True)
class ModelManifest:
    """What a model is, what it accepts and what it produces. Checked at construction.

    Fields:
        name: slug (lower-case letters, digits, dashes), unique with ``version``.
        version: the model's version string (e.g. ``"1.0.0"``).
        modalities: DICOM Modality codes accepted (e.g. ``("CT",)``).
        model_file: path of the ONNX file (absolute, or relative to the plugin package).
        sha256: lower-case hex SHA-256 of the ONNX file; checked at load.
        inputs: graph inputs the plugin's ``preprocess`` fills.
        outputs: result kinds written: ``("SEG", "SR")``, ``("SR",)``.
        algorithm_family: code of the algorithm family (e.g. DCM 113109 "Artificial
            Intelligence"), written to SEG Algorithm Identification.
        dimensionality: ``"2d"`` runs the graph slice-wise (the first input axis is the slice
            batch), ``"3d"`` runs it once on the whole volume.
        body_parts: accepted BodyPartExamined values; empty accepts any.
        sop_classes: accepted SOP Class UIDs; empty accepts any image.
        min_slices / max_slices: accepted slice-count range (inclusive).
        segments / measurements / findings: the coded concepts of the outputs.
        seg_type: ``"binary"`` (default) or ``"labelmap"`` (written losslessly compressed).
        description: one line shown in listings and written as content description.
    """

    name: str
    version: str
    modalities: tuple[str, ...]
    model_file: Path
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[OutputKind, ...] = ("SEG", "SR")
    algorithm_family: Code = field(
        default_factory=lambda: Code("113109", "DCM", "Artificial Intelligence")
    )
    dimensionality: Literal["2d", "3d"] = "2d"
    body_parts: tuple[str, ...] = ()
    sop_classes: tuple[str, ...] = ()
    min_slices: int = 1
    max_slices: int | None = None
    segments: tuple[SegmentSpec, ...] = ()
    measurements: tuple[MeasurementSpec, ...] = ()
    findings: tuple[FindingSpec, ...] = ()
    seg_type: Literal["binary", "labelmap"] = "binary"
    description: str = ""

    def __post_init__(self) -> None:
        self._check_identity()
        self._check_acceptance()
        self._check_outputs()

    def _check_identity(self) -> None:
        if not isinstance(self.name, str) or not _SLUG.match(self.name):
            raise ManifestError("name", self.name, "a slug like 'ct-lung-seg' (a-z, 0-9, '-')")
        if not isinstance(self.version, str) or not _VERSION.match(self.version):
            raise ManifestError("version", self.version, "a version string like '1.0.0'")
        object.__setattr__(self, "model_file", Path(self.model_file))
        if not isinstance(self.sha256, str) or not _SHA256.match(self.sha256):
            raise ManifestError("sha256", self.sha256, "64 lower-case hex digits")
        inputs = tuple(self.inputs)
        if not inputs or not all(isinstance(t, TensorSpec) for t in inputs):
            raise ManifestError("inputs", self.inputs, "a non-empty sequence of TensorSpec")
        if len({t.name for t in inputs}) != len(inputs):
            raise ManifestError("inputs", [t.name for t in inputs], "unique input names")
        object.__setattr__(self, "inputs", inputs)
        if not isinstance(self.algorithm_family, Code):
            raise ManifestError("algorithm_family", self.algorithm_family, "a Code")
        if self.dimensionality not in ("2d", "3d"):
            raise ManifestError("dimensionality", self.dimensionality, "'2d' or '3d'")

    def _check_acceptance(self) -> None:
        modalities = _as_tuple(self.modalities)
        if not modalities:
            raise ManifestError("modalities", self.modalities, "at least one DICOM Modality")
        for code in modalities:
            if code not in MODALITIES:
                raise ManifestError("modalities", code, "a DICOM Modality code such as 'CT'")
        object.__setattr__(self, "modalities", modalities)
        object.__setattr__(self, "body_parts", _as_tuple(self.body_parts))
        sop_classes = _as_tuple(self.sop_classes)
        for uid in sop_classes:
            if not _UID.match(uid) or len(uid) > 64:
                raise ManifestError("sop_classes", uid, "a SOP Class UID")
        object.__setattr__(self, "sop_classes", sop_classes)
        if not isinstance(self.min_slices, int) or self.min_slices < 1:
            raise ManifestError("min_slices", self.min_slices, "an int >= 1")
        if self.max_slices is not None and (
            not isinstance(self.max_slices, int) or self.max_slices < self.min_slices
        ):
            raise ManifestError("max_slices", self.max_slices, "None or an int >= min_slices")

    def _check_outputs(self) -> None:
        outputs = _as_tuple(self.outputs)
        if not outputs or any(kind not in ("SEG", "SR") for kind in outputs):
            raise ManifestError("outputs", self.outputs, "a non-empty subset of ('SEG', 'SR')")
        object.__setattr__(self, "outputs", outputs)
        for attr in ("segments", "measurements", "findings"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        labels = [s.label for s in self.segments]
        if len(set(labels)) != len(labels):
            raise ManifestError("segments", labels, "unique segment labels")
        if "SEG" in outputs and not self.segments:
            raise ManifestError("segments", (), "at least one SegmentSpec when outputs has SEG")
        for spec in self.measurements:
            if spec.segment_label is not None and spec.segment_label not in labels:
                raise ManifestError(
                    "measurements.segment_label", spec.segment_label, f"one of {labels}"
                )
        keys = [m.key for m in self.measurements] + [f.key for f in self.findings]
        if len(set(keys)) != len(keys):
            raise ManifestError("measurements/findings", keys, "unique keys")
        if "SR" in outputs and not keys:
            raise ManifestError("outputs", outputs, "measurements or findings when SR is output")
        if self.seg_type not in ("binary", "labelmap"):
            raise ManifestError("seg_type", self.seg_type, "'binary' or 'labelmap'")

    @property
    def key(self) -> str:
        """``name@version``, the identity used in listings and result UIDs."""
        return f"{self.name}@{self.version}"


def _as_tuple(value: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)
