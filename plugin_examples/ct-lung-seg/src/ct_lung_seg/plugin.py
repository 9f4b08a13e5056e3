"""CT lung segmentation: SEG with the right and left lung, SR with each lung's volume in ml.

The model is a small 2D U-Net trained on synthetic phantoms only (an example, NOT a clinical
tool); input, normalisation and outputs are in ``models/ct-lung-seg/MODEL_CARD.md``.
"""

from __future__ import annotations

import numpy as np

from hub.sdk import (
    CODES,
    UNITS,
    MeasurementSpec,
    ModelManifest,
    ModelPlugin,
    Result,
    SegmentSpec,
    Series,
    TensorSpec,
    hookimpl,
)

HU_MIN, HU_MAX = -1024.0, 600.0
MULTIPLE = 16  # the U-Net pools four times
CHUNK = 8  # slices per postprocessing step


def _oriented(array: np.ndarray, series: Series) -> np.ndarray:
    """``array`` flipped so columns run to the patient's left and rows to posterior (as in
    training); applying it twice gives ``array`` back."""
    rows, columns = (-1 if series.orientation[i] < 0 else 1 for i in (4, 0))
    return array[:, ::rows, ::columns]


class CtLungSeg(ModelPlugin):
    """Right and left lung on axial chest CT, with their volumes."""

    manifest = ModelManifest(
        name="ct-lung-seg",
        version="1.0.0",
        modalities=("CT",),
        model_file="ct-lung-seg.onnx",
        sha256="9f70dc8c1c9b5e19a6d313ae2db1edb9fe3d9d6b6c93e176a80c6f45260246d2",
        inputs=(TensorSpec("image", (None, 1, None, None), "float32"),),
        dimensionality="2d",
        min_slices=8,
        segments=tuple(
            SegmentSpec(label, f"{side.title()} lung", CODES["anatomical_structure"],
                        CODES["lung"], laterality=CODES[side])
            for label, side in ((1, "right"), (2, "left"))
        ),
        measurements=(
            MeasurementSpec("right_lung_volume", CODES["volume"], UNITS["ml"], segment_label=1),
            MeasurementSpec("left_lung_volume", CODES["volume"], UNITS["ml"], segment_label=2),
        ),
        description="Right/left lung on chest CT (example model trained on phantoms only; "
        "not for clinical use)",
    )

    def preprocess(self, series: Series) -> dict[str, np.ndarray]:
        """Normalise HU to [0, 1], orient to LPS-axial, pad rows/columns to a multiple of 16."""
        slices, rows, columns = series.shape
        volume = _oriented(series.volume, series)
        padded_rows = -(-rows // MULTIPLE) * MULTIPLE
        padded_columns = -(-columns // MULTIPLE) * MULTIPLE
        image = np.zeros((slices, 1, padded_rows, padded_columns), dtype=np.float32)
        target = image[:, 0, :rows, :columns]
        np.clip(volume, HU_MIN, HU_MAX, out=target)
        target -= HU_MIN
        target *= 1.0 / (HU_MAX - HU_MIN)
        return {"image": image}

    def postprocess(self, outputs: dict[str, np.ndarray], series: Series) -> Result:
        """Argmax of the logits, padding cropped, volumes = voxel count x voxel volume."""
        slices, rows, columns = series.shape
        logits = outputs["logits"]
        labelmap = np.empty((slices, rows, columns), dtype=np.uint8)
        for start in range(0, slices, CHUNK):  # chunks of slices stay in cache
            chunk = logits[start:start + CHUNK, :, :rows, :columns]
            background, right, left = chunk[:, 0], chunk[:, 1], chunk[:, 2]
            out = labelmap[start:start + CHUNK]
            np.greater(left, right, out=out, casting="unsafe")  # 1 where left beats right
            out += 1  # 2: left is the best lung, 1: right is
            out *= np.maximum(right, left) > background  # 0 where background wins
        labelmap = np.ascontiguousarray(_oriented(labelmap, series))
        voxel_ml = series.voxel_volume_ml
        volumes = {
            f"{side}_lung_volume": float(np.count_nonzero(labelmap == label) * voxel_ml)
            for label, side in ((1, "right"), (2, "left"))
        }
        return Result(labelmap=labelmap, measurements=volumes)


@hookimpl
def hub_models() -> list[ModelPlugin]:
    """The models this plugin provides."""
    return [CtLungSeg()]
