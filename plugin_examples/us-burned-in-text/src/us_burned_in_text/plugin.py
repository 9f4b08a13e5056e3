"""Burned-in text (annotation) detector: an SR finding, no SEG.

The ONNX graph (``models/burned-in-text/``, see its MODEL_CARD.md) is a hand-written
heuristic, not a trained network: per image it measures the fraction of the top and bottom
bands covered by thin, near-saturated strokes and maps it through a logistic. This module
scales pixels to the largest storable value and takes the most suspicious image of the series.
"""

from __future__ import annotations

import numpy as np

from hub.sdk import (
    CODES,
    Code,
    FindingSpec,
    ModelManifest,
    ModelPlugin,
    Result,
    Series,
    TensorSpec,
    hookimpl,
)

#: No standard code found for "burned-in annotation present"; a private code of the hub.
BURNED_IN_ANNOTATION = Code("BURNED_IN_TEXT", "99PACSHUB", "Burned in annotation")
THRESHOLD = 0.5


class BurnedInText(ModelPlugin):
    """Flags series whose images carry burned-in text in their top or bottom bands."""

    manifest = ModelManifest(
        name="us-burned-in-text",
        version="1.0.0",
        description="Burned-in text in image bands (heuristic as ONNX; not for diagnosis)",
        modalities=("US", "CR", "DX", "OT"),
        model_file="burned-in-text-1.0.0.onnx",
        sha256="fba643b851a050b9a60ef0af042661ba7af12b82a21ad56fd9cbd45c6d374c66",
        inputs=(TensorSpec("image", (None, 1, None, None), "float32"),),
        outputs=("SR",),
        dimensionality="2d",
        findings=(
            FindingSpec(
                "burned_in_text",
                BURNED_IN_ANNOTATION,
                {"present": CODES["yes"], "absent": CODES["no"]},
            ),
        ),
    )

    def preprocess(self, series: Series) -> dict[str, np.ndarray]:
        """Each image divided by the largest storable value: full-white text becomes ~1.0."""
        bits = int(series.header.get("BitsStored", 8) or 8)
        slope = float(series.header.get("RescaleSlope", 1) or 1)
        intercept = float(series.header.get("RescaleIntercept", 0) or 0)
        stored = (series.volume - intercept) / slope  # back to stored pixel values
        scaled = stored / float(2**bits - 1)
        return {"image": scaled[:, np.newaxis].astype(np.float32)}

    def postprocess(self, outputs: dict[str, np.ndarray], series: Series) -> Result:
        """The series' score is its most suspicious image's probability."""
        score = float(np.clip(np.max(outputs["probability"]), 0.0, 1.0))
        answer = "present" if score >= THRESHOLD else "absent"
        return Result(findings={"burned_in_text": answer}, scores={"burned_in_text": score})


@hookimpl
def hub_models() -> list[ModelPlugin]:
    """This package's one model."""
    return [BurnedInText()]
