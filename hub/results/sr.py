"""Build a TID 1500 Measurement Report (Comprehensive 3D SR) with highdicom.

Content, in order:

* one volumetric group (TID 1411) per segment that has measurements, referencing that SEG
  segment; without a SEG the same group is written at image level (TID 1501);
* one image-level group (TID 1501) holding the measurements that belong to no segment;
* one image-level group per finding: a qualitative evaluation (concept = the finding's concept,
  value = the answer's code), plus the model's confidence as a numeric measurement when given.

Every group has a tracking identifier (human-readable) and a deterministic tracking UID; a
segment's group shares its tracking UID with the SEG segment. The image library lists every
source image, which viewers such as OHIF need to place the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from hub.errors import ResultError
from hub.results import labelling
from hub.results.library import image_library, insert_library
from hub.results.seg import segment_numbers
from hub.results.uids import derived_uid, result_uid, tracking_uid
from hub.results.validate import validate_result
from hub.sdk import Code, ModelManifest, Result, SegmentSpec, Series

logger = logging.getLogger(__name__)

#: Procedure reported per Modality; anything else is reported as an imaging procedure.
PROCEDURES = {
    "CT": Code("77477000", "SCT", "Computed Tomography"),
    "MR": Code("113091000", "SCT", "Magnetic Resonance Imaging"),
    "PT": Code("82918005", "SCT", "Positron emission tomography"),
}
IMAGING_PROCEDURE = Code("363679005", "SCT", "Imaging")
#: The concept of a classifier's confidence; a private code of the hub's own scheme.
CONFIDENCE = Code("CONFIDENCE", "99PACSHUB", "Model confidence score")
NO_UNITS = Code("1", "UCUM", "no units")
PRIVATE_SCHEME = hd.coding_schemes.CodingSchemeIdentificationItem(
    designator="99PACSHUB", name="pacs-ai-hub private codes", responsible_organization="pacs-ai-hub"
)


def build_sr(
    series: Series,
    manifest: ModelManifest,
    result: Result,
    seg: hd.seg.Segmentation | None = None,
    *,
    check: bool = True,
) -> hd.sr.Comprehensive3DSR:
    """Build the Comprehensive 3D SR (TID 1500) of ``result``'s measurements and findings.

    Args:
        series: the source series (its headers become the image library and evidence).
        manifest: the model's manifest (concepts, units, segment codes, identity).
        result: the validated model output.
        seg: the SEG built from the same result, if any; volumetric groups reference it.
        check: ``False`` skips :func:`validate_result` for a caller that has just run it.

    Raises:
        ResultError: the result does not fit the manifest or highdicom refused the content.
    """
    if check:
        validate_result(series, manifest, result, outputs=("SR",))
    if "SR" not in manifest.outputs:
        raise ResultError(
            f"model {manifest.key} does not declare SR output",
            "add 'SR' to the manifest's outputs or do not ask for an SR",
        )
    uid = series.series_instance_uid
    algorithm = hd.sr.AlgorithmIdentification(
        name=manifest.name,
        version=manifest.version,
        family=labelling.coded(manifest.algorithm_family),
    )
    try:
        groups = _segment_groups(series, manifest, result, seg, algorithm)
        groups += _series_groups(series, manifest, result, algorithm)
        report = hd.sr.MeasurementReport(
            observation_context=_observation_context(series, manifest),
            procedure_reported=labelling.coded(PROCEDURES.get(series.modality, IMAGING_PROCEDURE)),
            imaging_measurements=groups,
        )
        insert_library(report, image_library(series))
        evidence: list[Dataset] = list(series.datasets)
        if seg is not None:
            evidence.append(seg)
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence,
            content=report,
            series_instance_uid=result_uid(uid, manifest.name, manifest.version, "sr-series"),
            series_number=labelling.SERIES_NUMBERS["SR"],
            sop_instance_uid=result_uid(uid, manifest.name, manifest.version, "sr"),
            instance_number=1,
            manufacturer=labelling.MANUFACTURER,
            manufacturer_model_name=manifest.name,
            software_versions=list(labelling.software_versions(manifest)),
            device_serial_number=labelling.device_serial_number(manifest),
            series_description=labelling.series_description(manifest, "SR"),
            coding_schemes=[PRIVATE_SCHEME] if _uses_private_codes(manifest, result) else None,
        )
    except ResultError:
        raise
    except Exception as exc:  # highdicom raises ValueError/TypeError/AttributeError
        raise ResultError(
            f"highdicom could not build the SR of model {manifest.key}: {exc}",
            "check the manifest's codes and units and the source series headers",
        ) from exc
    logger.info("built SR for model %s: %d measurement groups", manifest.key, len(groups))
    return sr


def _uses_private_codes(manifest: ModelManifest, result: Result) -> bool:
    """Whether the SR will hold a code of the hub's private scheme (it must then declare it)."""
    if result.scores:
        return True  # the confidence concept is private
    codes_used: list[Code] = [manifest.algorithm_family]
    for segment in manifest.segments:
        codes_used += [segment.category, segment.type]
        codes_used += [segment.laterality] if segment.laterality else []
    for measurement in manifest.measurements:
        codes_used += [measurement.concept, measurement.unit]
    for finding in manifest.findings:
        codes_used += [finding.concept, *finding.values.values()]
    return any(code.scheme == PRIVATE_SCHEME.CodingSchemeDesignator for code in codes_used)


def _observation_context(series: Series, manifest: ModelManifest) -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=derived_uid("device", manifest.name, manifest.version, manifest.sha256),
        name=manifest.name,
        manufacturer_name=labelling.MANUFACTURER,
        model_name=f"{manifest.name} {manifest.version}"[:64],
        serial_number=labelling.device_serial_number(manifest),
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )


def _tracking(
    series: Series, manifest: ModelManifest, key: str, name: str
) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(
        uid=tracking_uid(series.series_instance_uid, manifest.name, manifest.version, key),
        identifier=name[:64],
    )


def _measurement(
    concept: Code, value: float, unit: Code, algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.Measurement:
    return hd.sr.Measurement(
        name=labelling.coded(concept),
        value=float(value),
        unit=labelling.coded(unit),
        algorithm_id=algorithm,
    )


def _segment_groups(
    series: Series,
    manifest: ModelManifest,
    result: Result,
    seg: hd.seg.Segmentation | None,
    algorithm: hd.sr.AlgorithmIdentification,
) -> list[Dataset]:
    numbers = segment_numbers(manifest) if seg is not None else {}
    groups: list[Dataset] = []
    for spec in sorted(manifest.segments, key=lambda s: s.label):
        measurements = [
            _measurement(m.concept, result.measurements[m.key], m.unit, algorithm)
            for m in manifest.measurements
            if m.segment_label == spec.label and m.key in result.measurements
        ]
        if not measurements:
            continue
        common = {
            "tracking_identifier": _tracking(series, manifest, f"segment-{spec.label}", spec.name),
            "finding_type": labelling.coded(spec.type),
            "finding_category": labelling.coded(spec.category),
            "finding_sites": _finding_sites(spec),
            "algorithm_id": algorithm,
            "measurements": measurements,
        }
        if seg is None:
            groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    source_images=_source_images(series), **common
                )
            )
            continue
        referenced = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=numbers[spec.label],
            source_series=hd.sr.SourceSeriesForSegmentation(series.series_instance_uid),
        )
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                referenced_segment=referenced, **common
            )
        )
    return groups


def _series_groups(
    series: Series,
    manifest: ModelManifest,
    result: Result,
    algorithm: hd.sr.AlgorithmIdentification,
) -> list[Dataset]:
    groups: list[Dataset] = []
    loose = [
        _measurement(m.concept, result.measurements[m.key], m.unit, algorithm)
        for m in manifest.measurements
        if m.segment_label is None and m.key in result.measurements
    ]
    if loose:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(
                    series, manifest, "series-measurements", f"{manifest.name} measurements"
                ),
                algorithm_id=algorithm,
                measurements=loose,
                source_images=_source_images(series),
            )
        )
    for spec in manifest.findings:
        if spec.key not in result.findings:
            continue
        evaluation = hd.sr.QualitativeEvaluation(
            name=labelling.coded(spec.concept),
            value=labelling.coded(spec.values[result.findings[spec.key]]),
        )
        scores = []
        if spec.key in result.scores:
            scores.append(_measurement(CONFIDENCE, result.scores[spec.key], NO_UNITS, algorithm))
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(
                    series, manifest, f"finding-{spec.key}", spec.concept.meaning
                ),
                algorithm_id=algorithm,
                qualitative_evaluations=[evaluation],
                measurements=scores or None,
                source_images=_source_images(series),
            )
        )
    return groups


def _finding_sites(spec: SegmentSpec) -> list[hd.sr.FindingSite] | None:
    if spec.laterality is None:
        return None
    return [
        hd.sr.FindingSite(
            anatomic_location=labelling.coded(spec.type),
            laterality=labelling.coded(spec.laterality),
        )
    ]


def _source_images(series: Series) -> Sequence[hd.sr.SourceImageForMeasurementGroup]:
    """Every source image (for multi-frame: its frames) as group-level image references."""
    frames: dict[int, list[int]] = {}
    for ref in series.slices:
        frames.setdefault(ref.dataset_index, [])
        if ref.frame_number is not None:
            frames[ref.dataset_index].append(ref.frame_number)
    return [
        hd.sr.SourceImageForMeasurementGroup.from_source_image(
            series.datasets[index], referenced_frame_numbers=sorted(numbers) or None
        )
        for index, numbers in frames.items()
    ]
