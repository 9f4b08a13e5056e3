"""Helpers of the routing tests: phantom series files and route settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from hub.settings import override_settings


def write(
    folder: Path, *, modality: str = "CT", slices: int = 8, body_part: str = "CHEST",
    description: str = "",
) -> list[Path]:
    """A small phantom series with fresh UIDs in ``folder``; returns its files."""
    from hub.testing.dicom import write_series

    volume = np.zeros((slices, 8, 8), dtype=np.float32)
    return write_series(
        volume, folder, modality=modality, body_part=body_part,  # type: ignore[arg-type]
        seed=f"routing-{uuid.uuid4().hex}", series_description=description,
    )


def routes(*tables: dict, **settings: object) -> None:
    """Use ``[[routes]]`` given as TOML-like dicts (and other settings) for this test."""
    override_settings(routes=list(tables), **settings)
