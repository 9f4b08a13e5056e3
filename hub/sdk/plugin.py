"""The model plugin base class and the pluggy markers plugin modules use."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pluggy

from hub.sdk.manifest import ModelManifest
from hub.sdk.types import Result, Series

PROJECT_NAME = "pacs_hub"

#: Decorator for hook implementations in plugin modules (``@hookimpl def hub_models(): ...``).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class ModelPlugin:
    """Base class of a model: a manifest plus pre- and post-processing.

    The hub owns the ONNX Runtime session. It calls :meth:`preprocess` once per series, runs
    the graph (slice batches for 2D models, once for 3D models), concatenates the outputs along
    the first axis for 2D models and calls :meth:`postprocess` with them.
    """

    manifest: ClassVar[ModelManifest]

    def preprocess(self, series: Series) -> dict[str, np.ndarray]:
        """Turn the series into the model's input arrays, keyed by graph input name.

        For a 2D model the first axis of every array is the slice axis (one entry per volume
        slice, in volume order); the hub splits it into batches.
        """
        raise NotImplementedError

    def postprocess(self, outputs: dict[str, np.ndarray], series: Series) -> Result:
        """Turn the graph's outputs (keyed by graph output name) into a :class:`Result`."""
        raise NotImplementedError
