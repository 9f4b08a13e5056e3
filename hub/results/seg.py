"""Build a DICOM Segmentation (SEG) from a model's label map with highdicom.

Geometry comes from the source images themselves: each mask frame is handed to highdicom
together with the source image (or source frame) its volume slice was read from, so the SEG
frame gets that image's position, orientation and pixel spacing and references it. That holds
whatever order the files arrived in, for reversed or oblique stacks and non-square pixels.

An entirely empty label map (the model found nothing) still gives a valid SEG: highdicom keeps
one empty frame when every frame would be omitted, and every declared segment is described, so
the viewer can show "0 voxels" instead of a missing result.
"""

from __future__ import annotations

import logging

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from hub.errors import ResultError
from hub.results import labelling
from hub.results.colors import palette_color, rgb_to_cielab
from hub.results.uids import result_uid, tracking_uid
from hub.results.validate import validate_result
from hub.sdk import ModelManifest, Result, SegmentSpec, Series

logger = logging.getLogger(__name__)

#: Transfer syntax of LABELMAP SEGs: lossless, encodable here and decoded by common viewers.
LABELMAP_TRANSFER_SYNTAX = RLELossless


def segment_numbers(manifest: ModelManifest) -> dict[int, int]:
    """Manifest label -> SEG segment number (1, 2, ... in label order)."""
    return {spec.label: n for n, spec in enumerate(_sorted_segments(manifest), start=1)}


def build_seg(
    series: Series, manifest: ModelManifest, result: Result, *, check: bool = True
) -> hd.seg.Segmentation:
    """Build the SEG of ``result.labelmap`` for ``series``.

    One segment per :class:`~hub.sdk.SegmentSpec` (segment numbers follow label order; see
    :func:`segment_numbers`), described with the manifest's codes, AUTOMATIC algorithm type
    and the manifest's Algorithm Identification. ``manifest.seg_type`` picks a BINARY SEG
    (uncompressed, bit-packed) or a LABELMAP SEG (RLE Lossless). Empty frames are omitted.

    ``check=False`` skips :func:`validate_result` for a caller that has just run it.

    Raises:
        ResultError: the result does not fit the manifest, the series layout is unsupported,
            or highdicom refused the object.
    """
    if check:
        validate_result(series, manifest, result, outputs=("SEG",))
    if "SEG" not in manifest.outputs:
        raise ResultError(
            f"model {manifest.key} does not declare SEG output",
            "add 'SEG' to the manifest's outputs or do not ask for a SEG",
        )
    assert result.labelmap is not None  # checked by validate_result
    lut = np.zeros(256, dtype=np.uint8)
    for label, number in segment_numbers(manifest).items():
        lut[label] = number
    numbered = lut[np.asarray(result.labelmap, dtype=np.uint8)]
    source_images, pixel_array = _source_frames(series, numbered)
    labelmap_type = manifest.seg_type == "labelmap"
    uid = series.series_instance_uid
    try:
        seg = hd.seg.Segmentation(
            source_images=source_images,
            pixel_array=pixel_array,
            segmentation_type="LABELMAP" if labelmap_type else "BINARY",
            segment_descriptions=_segment_descriptions(series, manifest),
            series_instance_uid=result_uid(uid, manifest.name, manifest.version, "seg-series"),
            series_number=labelling.SERIES_NUMBERS["SEG"],
            sop_instance_uid=result_uid(uid, manifest.name, manifest.version, "seg"),
            instance_number=1,
            manufacturer=labelling.MANUFACTURER,
            manufacturer_model_name=manifest.name,
            software_versions=list(labelling.software_versions(manifest)),  # type: ignore[arg-type]
            device_serial_number=labelling.device_serial_number(manifest),
            content_description=(manifest.description or f"AI segmentation {manifest.key}")[:64],
            content_label="AI_SEGMENTATION",
            content_creator_name=None,
            transfer_syntax_uid=(
                LABELMAP_TRANSFER_SYNTAX if labelmap_type else ExplicitVRLittleEndian
            ),
            omit_empty_frames=True,
            series_description=labelling.series_description(manifest, "SEG"),
        )
    except ResultError:
        raise
    except Exception as exc:  # highdicom raises ValueError/TypeError/AttributeError
        raise ResultError(
            f"highdicom could not build the SEG of model {manifest.key}: {exc}",
            "check that the source series is a consistent image stack and the manifest codes",
        ) from exc
    logger.info(
        "built SEG for model %s: %d frames, %d segments",
        manifest.key,
        int(seg.NumberOfFrames),
        len(manifest.segments),
    )
    return seg


def _sorted_segments(manifest: ModelManifest) -> list[SegmentSpec]:
    return sorted(manifest.segments, key=lambda spec: spec.label)


def _source_frames(series: Series, numbered: np.ndarray) -> tuple[list[Dataset], np.ndarray]:
    """Source images and the mask frames in the order highdicom pairs them.

    Single-frame sources: one source image per volume slice, in volume order. A multi-frame
    source: the one dataset, and the mask re-ordered into that dataset's frame order.
    """
    frames = [ref.frame_number for ref in series.slices]
    if len(frames) != numbered.shape[0]:
        raise ResultError(
            f"series has {len(frames)} slice references for {numbered.shape[0]} slices",
            "load the series with hub.inference.load_series",
        )
    if all(frame is None for frame in frames):
        images = [series.datasets[ref.dataset_index] for ref in series.slices]
        return images, numbered
    indexes = {ref.dataset_index for ref in series.slices}
    if None in frames or len(indexes) != 1:
        raise ResultError(
            "the series mixes several multi-frame objects or multi- and single-frame images",
            "send the series as one multi-frame object or as single-frame images",
        )
    source = series.datasets[indexes.pop()]
    count = int(source.get("NumberOfFrames", 1))
    numbers = [int(frame) for frame in frames if frame is not None]
    if sorted(numbers) != list(range(1, count + 1)):
        raise ResultError(
            f"the volume uses {len(set(numbers))} of the {count} frames of its multi-frame "
            "source; a SEG of it needs every frame",
            "load every frame of the multi-frame object as one volume",
        )
    ordered = np.empty_like(numbered)
    for k, frame in enumerate(numbers):
        ordered[frame - 1] = numbered[k]
    return [source], ordered


def _segment_descriptions(
    series: Series, manifest: ModelManifest
) -> list[hd.seg.SegmentDescription]:
    algorithm = hd.AlgorithmIdentificationSequence(
        name=manifest.name,
        family=labelling.coded(manifest.algorithm_family),
        version=manifest.version,
        source=labelling.MANUFACTURER,
    )
    descriptions = []
    for number, spec in enumerate(_sorted_segments(manifest), start=1):
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=spec.name,
            segmented_property_category=labelling.coded(spec.category),
            segmented_property_type=labelling.coded(spec.type),
            algorithm_type="AUTOMATIC",
            algorithm_identification=algorithm,
            tracking_uid=tracking_uid(
                series.series_instance_uid, manifest.name, manifest.version, f"segment-{spec.label}"
            ),
            tracking_id=spec.name,
            display_color=hd.color.CIELabColor(*rgb_to_cielab(palette_color(number))),
        )
        if spec.laterality is not None:
            # PS3.3 C.8.20.2: laterality qualifies the segmented property type.
            modifier = labelling.coded(spec.laterality)
            property_type = description.SegmentedPropertyTypeCodeSequence[0]
            property_type.SegmentedPropertyTypeModifierCodeSequence = [modifier]
        descriptions.append(description)
    return descriptions
