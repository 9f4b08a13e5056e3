"""Check a plugin's :class:`~hub.sdk.Result` against its manifest before anything is built.

A result that does not match what the manifest declares is a plugin bug; it is refused with a
:class:`~hub.errors.ResultError` naming the problem, and nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hub.errors import ResultError
from hub.sdk import ModelManifest, Result, Series


def validate_result(
    series: Series,
    manifest: ModelManifest,
    result: Result,
    outputs: Sequence[str] | None = None,
) -> None:
    """Raise :class:`ResultError` when ``result`` does not fit ``manifest`` and ``series``.

    Checks: the label map (for SEG: an integer array of the volume's shape holding only 0 and
    declared labels), measurement keys and finite values, finding keys and declared answer
    keys, scores in [0, 1] for reported findings, and that an SR has something to report.
    ``outputs`` limits the output-specific checks to those kinds (default: the manifest's).
    """
    kinds = manifest.outputs if outputs is None else tuple(outputs)
    fix = f"fix the postprocess() of model {manifest.key} to match its manifest"
    if "SEG" in kinds:
        _validate_labelmap(series, manifest, result, fix)
    declared_measurements = {m.key for m in manifest.measurements}
    for key, value in result.measurements.items():
        if key not in declared_measurements:
            raise ResultError(f"measurement {key!r} is not declared in the manifest", fix)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ResultError(f"measurement {key!r} is {value!r}, not a number", fix)
        if not math.isfinite(float(value)):
            raise ResultError(f"measurement {key!r} is {value!r}, not a finite number", fix)
    specs = {f.key: f for f in manifest.findings}
    for key, answer in result.findings.items():
        if key not in specs:
            raise ResultError(f"finding {key!r} is not declared in the manifest", fix)
        if answer not in specs[key].values:
            raise ResultError(
                f"finding {key!r} has answer {answer!r}, expected one of "
                f"{sorted(specs[key].values)}",
                fix,
            )
    for key, score in result.scores.items():
        if key not in result.findings:
            raise ResultError(f"score {key!r} has no finding of that key in the result", fix)
        if isinstance(score, bool) or not isinstance(score, (int, float, np.number)):
            raise ResultError(f"score {key!r} is {score!r}, not a number", fix)
        if not 0.0 <= float(score) <= 1.0:
            raise ResultError(f"score {key!r} is {score!r}, expected a value in [0, 1]", fix)
    if "SR" in kinds and not (result.measurements or result.findings):
        raise ResultError(
            f"model {manifest.key} outputs SR but the result has no measurements or findings",
            fix,
        )


def _validate_labelmap(series: Series, manifest: ModelManifest, result: Result, fix: str) -> None:
    labelmap = result.labelmap
    if labelmap is None:
        raise ResultError(f"model {manifest.key} outputs SEG but the result has no labelmap", fix)
    if not isinstance(labelmap, np.ndarray):
        raise ResultError(f"labelmap is a {type(labelmap).__name__}, not a numpy array", fix)
    if labelmap.shape != series.shape:
        raise ResultError(
            f"labelmap has shape {labelmap.shape}, expected the volume's shape {series.shape}",
            fix,
        )
    if labelmap.dtype.kind not in "uib":
        raise ResultError(f"labelmap has dtype {labelmap.dtype}, expected uint8", fix)
    if labelmap.size and (int(labelmap.min()) < 0 or int(labelmap.max()) > 255):
        raise ResultError(
            f"labelmap values span {int(labelmap.min())}..{int(labelmap.max())}, "
            "expected 0 (background) and segment labels 1..255",
            fix,
        )
    present = set(label_counts(labelmap)) - {0}
    undeclared = sorted(present - {s.label for s in manifest.segments})
    if undeclared:
        raise ResultError(
            f"labelmap holds labels {undeclared} that the manifest does not declare", fix
        )


def label_counts(labelmap: np.ndarray) -> dict[int, int]:
    """Voxel count of each value present in a label map of values 0..255."""
    counts = np.bincount(np.asarray(labelmap, dtype=np.uint8).ravel(), minlength=1)
    return {int(v): int(c) for v, c in enumerate(counts) if c}
