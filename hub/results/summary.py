"""A JSON-able summary of what a model found, shared by ``pacs-hub infer`` and the job table."""

from __future__ import annotations

from typing import Any

from hub.results.writer import ResultFiles
from hub.sdk import ModelManifest, Result, Series


def findings_summary(
    series: Series, manifest: ModelManifest, result: Result, files: ResultFiles
) -> dict[str, list[dict[str, Any]]]:
    """Segments (voxels, ml), measurements (value, unit) and findings (answer, score)."""
    units = {m.key: m.unit.value for m in manifest.measurements}
    voxel_ml = series.voxel_volume_ml
    return {
        "segments": [
            {
                "label": spec.label,
                "name": spec.name,
                "voxels": int(files.counts.get(spec.label, 0)),
                "volume_ml": round(int(files.counts.get(spec.label, 0)) * voxel_ml, 6),
            }
            for spec in manifest.segments
        ],
        "measurements": [
            {"key": key, "value": float(value), "unit": units.get(key, "")}
            for key, value in result.measurements.items()
        ],
        "findings": [
            {"key": key, "value": value, "score": result.scores.get(key)}
            for key, value in result.findings.items()
        ],
    }
