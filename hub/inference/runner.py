"""Run one model on one series: preprocess, ONNX Runtime, postprocess, with stage timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from hub.errors import HubError, InferenceError
from hub.inference.acceptance import check_acceptance
from hub.inference.sessions import get_session
from hub.sdk.manifest import ModelManifest
from hub.sdk.plugin import ModelPlugin
from hub.sdk.types import Result, Series
from hub.settings import get_settings

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class RunnableModel(Protocol):
    """What the runner needs of a loaded model (``hub.plugins.manager.LoadedModel``)."""

    plugin: ModelPlugin
    manifest: ModelManifest
    model_path: Path


@dataclass
class Outcome:
    """A model's result on a series and the seconds spent in each stage.

    ``timings`` keys: ``preprocess``, ``inference`` (wall time of the inference stage,
    including batching), ``session_run`` (the sum of ``session.run`` calls alone) and
    ``postprocess``.
    """

    result: Result
    timings: dict[str, float] = field(default_factory=dict)


def run_model(
    model: RunnableModel, series: Series, progress: Progress | None = None
) -> Outcome:
    """Run ``model`` on ``series`` and return its :class:`Outcome`.

    Checks the manifest accepts the series first (:class:`hub.errors.NotAcceptedError`).
    2D models get the first axis of every input split into batches of
    ``[inference] batch_size`` (or the graph's fixed batch size), and their outputs are
    concatenated along that axis; 3D models run once. ``progress(done, total)`` reports
    batches. Plugin exceptions become :class:`InferenceError` naming the plugin stage.
    """
    manifest = model.manifest
    check_acceptance(manifest, series)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    inputs = _call(manifest, "preprocess", lambda: model.plugin.preprocess(series))
    _check_inputs(manifest, inputs)
    timings["preprocess"] = time.perf_counter() - started

    started = time.perf_counter()
    session = get_session(model.model_path, manifest.sha256)
    outputs, session_seconds = _run_session(session, manifest, inputs, progress)
    timings["inference"] = time.perf_counter() - started
    timings["session_run"] = session_seconds

    started = time.perf_counter()
    result = _call(manifest, "postprocess", lambda: model.plugin.postprocess(outputs, series))
    if not isinstance(result, Result):
        raise InferenceError(
            f"model {manifest.name}: postprocess returned {type(result).__name__}, not Result",
            "return hub.sdk.Result(...) from postprocess",
        )
    timings["postprocess"] = time.perf_counter() - started
    return Outcome(result=result, timings=timings)


def _call(manifest: ModelManifest, stage: str, func: Callable[[], object]) -> object:
    try:
        return func()
    except HubError:
        raise
    except Exception as exc:
        logger.exception("model %s failed in %s", manifest.key, stage)
        raise InferenceError(
            f"model {manifest.key} failed in {stage}: {type(exc).__name__}: {exc}",
            "this is a bug in the model plugin or an input it cannot handle; report it to "
            "the plugin's authors with the traceback from the log",
        ) from exc


def _check_inputs(manifest: ModelManifest, inputs: object) -> None:
    if not isinstance(inputs, dict):
        raise InferenceError(
            f"model {manifest.key}: preprocess returned {type(inputs).__name__}, not a dict",
            "return a dict of input name -> numpy array from preprocess",
        )
    batch: int | None = None
    for spec in manifest.inputs:
        array = inputs.get(spec.name)
        if not isinstance(array, np.ndarray):
            raise InferenceError(
                f"model {manifest.key}: preprocess gave no array for input '{spec.name}'",
                f"return inputs for {[s.name for s in manifest.inputs]}",
            )
        if array.dtype != np.dtype(spec.dtype) or array.ndim != len(spec.shape):
            raise InferenceError(
                f"model {manifest.key}: input '{spec.name}' is {array.dtype}{list(array.shape)}"
                f", manifest says {spec.dtype} with shape {spec.shape}",
                "make preprocess return arrays of the declared dtype and rank",
            )
        for axis, size in enumerate(spec.shape):
            if size is not None and array.shape[axis] != size and not (
                axis == 0 and manifest.dimensionality == "2d"
            ):
                raise InferenceError(
                    f"model {manifest.key}: input '{spec.name}' axis {axis} is "
                    f"{array.shape[axis]}, manifest says {size}",
                    "make preprocess return arrays of the declared shape",
                )
        if manifest.dimensionality == "2d":
            if batch is not None and array.shape[0] != batch:
                raise InferenceError(
                    f"model {manifest.key}: 2D inputs disagree on the slice axis length",
                    "give every input the same first (slice) axis",
                )
            batch = array.shape[0]


def _run_session(
    session: object,
    manifest: ModelManifest,
    inputs: dict[str, np.ndarray],
    progress: Progress | None,
) -> tuple[dict[str, np.ndarray], float]:
    output_names = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
    feed = {spec.name: inputs[spec.name] for spec in manifest.inputs}
    run = session.run  # type: ignore[attr-defined]
    if manifest.dimensionality == "3d":
        started = time.perf_counter()
        values = _guarded(manifest, lambda: run(output_names, feed))
        seconds = time.perf_counter() - started
        if progress is not None:
            progress(1, 1)
        return dict(zip(output_names, values, strict=True)), seconds
    total = next(iter(feed.values())).shape[0]
    fixed = manifest.inputs[0].shape[0]
    step = fixed or get_settings().inference.batch_size
    if fixed is not None and total % fixed:
        raise InferenceError(
            f"model {manifest.key}: {total} slices do not split into batches of {fixed}",
            "pad the slice axis in preprocess to a multiple of the graph's batch size",
        )
    outputs: dict[str, np.ndarray] = {}
    binding = session.io_binding()  # type: ignore[attr-defined]
    seconds = 0.0
    for start in range(0, total, step):
        stop = min(start + step, total)
        batch = {name: np.ascontiguousarray(a[start:stop]) for name, a in feed.items()}
        if not outputs:
            # The first batch tells the output shapes; later batches write in place.
            began = time.perf_counter()
            values = _guarded(manifest, lambda batch=batch: run(output_names, batch))
            seconds += time.perf_counter() - began
            outputs = _allocate_outputs(manifest, output_names, values, total, stop - start)
            for name, value in zip(output_names, values, strict=True):
                outputs[name][start:stop] = value
        else:
            binding.clear_binding_inputs()
            binding.clear_binding_outputs()
            for name, array in batch.items():
                binding.bind_cpu_input(name, array)
            for name, array in outputs.items():
                view = array[start:stop]
                binding.bind_output(
                    name, "cpu", 0, view.dtype, view.shape, view.ctypes.data
                )
            began = time.perf_counter()
            _guarded(manifest, lambda: session.run_with_iobinding(binding))  # type: ignore[attr-defined]
            seconds += time.perf_counter() - began
        if progress is not None:
            progress(stop, total)
    return outputs, seconds


def _allocate_outputs(
    manifest: ModelManifest,
    names: list[str],
    values: list[np.ndarray],
    total: int,
    batch: int,
) -> dict[str, np.ndarray]:
    """Whole-series output arrays shaped like the first batch's outputs, slice axis first."""
    outputs = {}
    for name, value in zip(names, values, strict=True):
        if value.ndim == 0 or value.shape[0] != batch:
            raise InferenceError(
                f"model {manifest.key}: output '{name}' has shape {list(value.shape)}; a 2D "
                f"model's outputs must have the slice batch ({batch}) as first axis",
                "export the model with the batch axis first in every output, or declare "
                "dimensionality '3d'",
            )
        outputs[name] = np.empty((total, *value.shape[1:]), dtype=value.dtype)
    return outputs


def _guarded(manifest: ModelManifest, func: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    try:
        return func()
    except Exception as exc:
        raise InferenceError(
            f"ONNX Runtime failed running model {manifest.key}: {exc}",
            "check that preprocess produces the shapes the graph expects",
        ) from exc
