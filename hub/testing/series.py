"""Ready-made :class:`hub.sdk.Series` objects for plugin tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hub.inference.volume import load_series
from hub.sdk.types import Series
from hub.testing.dicom import write_series
from hub.testing.phantoms import chest_ct_phantom


def synthetic_ct_series(
    folder: str | Path,
    *,
    slices: int = 16,
    size: int = 128,
    seed: int = 1,
    order: str = "shuffled",
) -> tuple[Series, np.ndarray]:
    """Write a chest CT phantom as DICOM into ``folder`` and load it the way the hub does.

    Returns the series and the phantom's true label map (1 = right lung, 2 = left lung) in
    the series' volume order. ``order`` ("sorted", "reversed", "shuffled") only changes file
    names and InstanceNumber, so a plugin test also proves it does not depend on them.
    """
    pixel = 360.0 / size
    spacing = (2.5, pixel, pixel)
    hu, labels = chest_ct_phantom(
        slices=slices, rows=size, columns=size, spacing=spacing, seed=seed
    )
    write_series(
        hu, folder, spacing=spacing, seed=f"synthetic-ct-{seed}-{slices}-{size}",
        order=order, body_part="CHEST",  # type: ignore[arg-type]
    )
    return load_series([folder]), labels
