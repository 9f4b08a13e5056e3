"""Brain extraction of T1-weighted MR with deepbet 1.0.2: SEG brain mask and SR brain volume.

The ONNX graph (see ``models/mr-brain-extract/MODEL_CARD.md``) holds both deepbet networks: it
finds the brain box on a 128^3 copy of the volume and returns the brain probability of that box
resampled to 256^3. This module does the rest in numpy: RAS reorientation, the intensity window,
mapping the box back to the volume's voxels, largest component and hole filling.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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

COARSE_SIZE = 128  # the box-finding network's cube, as fixed in the graph
FINE_SIZE = 256  # the segmentation network's cube, as fixed in the graph
THRESHOLD = 0.5


def ras_axes(series: Series) -> tuple[list[int], list[bool]]:
    """For each RAS axis, the volume axis closest to it and whether that axis runs backwards."""
    orientation = np.asarray(series.orientation, dtype=float)
    # Volume axes are (slice, row, column): along the normal, the column cosine, the row cosine.
    lps = np.stack([np.asarray(series.normal, float), orientation[3:], orientation[:3]])
    ras = lps * np.array([-1.0, -1.0, 1.0])
    axes, taken = [-1, -1, -1], set()
    for axis in np.argsort(-np.abs(ras).max(axis=1)):  # most clearly aligned axis first
        target = max((t for t in range(3) if t not in taken), key=lambda t: abs(ras[axis, t]))
        axes[target] = int(axis)
        taken.add(target)
    return axes, [bool(ras[axes[t], t] < 0) for t in range(3)]


def to_ras(volume: np.ndarray, series: Series) -> np.ndarray:
    """``volume`` (the series' voxel order) with its axes ordered and flipped to R, A, S."""
    axes, flips = ras_axes(series)
    ras = np.transpose(volume, axes)
    return np.flip(ras, [t for t in range(3) if flips[t]])


def from_ras(ras: np.ndarray, series: Series) -> np.ndarray:
    """Undo :func:`to_ras`: back to the series' (slice, row, column) voxel order."""
    axes, flips = ras_axes(series)
    volume = np.flip(ras, [t for t in range(3) if flips[t]])
    return np.transpose(volume, np.argsort(axes))


def nearest_indices(length: int, size: int) -> np.ndarray:
    """Source index of each of ``size`` samples resampling ``length`` voxels (nearest)."""
    index = np.floor((np.arange(size) + 0.5) * (length / size)).astype(np.int64)
    return np.minimum(index, length - 1)


class MrBrainExtract(ModelPlugin):
    """deepbet brain extraction: whole-head T1 MR in, brain mask and brain volume out."""

    manifest = ModelManifest(
        name="mr-brain-extract",
        version="1.0.2",
        modalities=("MR",),
        model_file="deepbet-1.0.2.onnx",
        sha256="5e32496018bdea2c750ff34864d49fffdc379723d5338783ed17de5ab994ee22",
        inputs=(
            TensorSpec("image", (1, 1, None, None, None), "float32"),
            TensorSpec("window", (2,), "float32"),
        ),
        dimensionality="3d",
        min_slices=16,
        segments=(
            SegmentSpec(1, "Brain", CODES["anatomical_structure"], CODES["brain"]),
        ),
        measurements=(
            MeasurementSpec("brain_volume", CODES["volume"], UNITS["ml"], segment_label=1),
        ),
        description="T1 MR brain extraction (deepbet 1.0.2, ONNX); research use only",
    )

    def preprocess(self, series: Series) -> dict[str, np.ndarray]:
        """The volume in RAS order, and its 0.5-99.5 % intensity window on a 128^3 copy."""
        ras = to_ras(np.nan_to_num(series.volume.astype(np.float32, copy=False)), series)
        coarse = ras[np.ix_(*(nearest_indices(n, COARSE_SIZE) for n in ras.shape))]
        window = np.quantile(coarse, [0.005, 0.995]).astype(np.float32)
        return {"image": np.ascontiguousarray(ras)[None, None], "window": window}

    def postprocess(self, outputs: dict[str, np.ndarray], series: Series) -> Result:
        """Map the box probabilities back, threshold, keep the largest part and fill holes."""
        box = [(int(start), int(stop)) for start, stop in outputs["box"]]
        brain = self._box_mask(outputs["probability"], box)
        ras_shape = to_ras(series.volume, series).shape
        mask = np.zeros(ras_shape, dtype=bool)
        mask[tuple(slice(start, stop) for start, stop in box)] = brain
        labelmap = np.ascontiguousarray(from_ras(mask, series)).astype(np.uint8)
        volume_ml = float(labelmap.sum()) * series.voxel_volume_ml
        return Result(labelmap=labelmap, measurements={"brain_volume": volume_ml})

    @staticmethod
    def _box_mask(probability: np.ndarray, box: list[tuple[int, int]]) -> np.ndarray:
        """The brain inside the box, at the volume's resolution, cleaned up."""
        picks = [nearest_indices(FINE_SIZE, stop - start) for start, stop in box]
        brain = probability[np.ix_(*picks)] > THRESHOLD
        labels, count = ndimage.label(brain, structure=np.ones((3, 3, 3), dtype=bool))
        if count > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            brain = labels == int(sizes.argmax())
        return ndimage.binary_fill_holes(brain)


@hookimpl
def hub_models() -> list[ModelPlugin]:
    """This plugin's one model."""
    return [MrBrainExtract()]
