"""``pacs-hub phantom``: write a synthetic chest CT series to try the hub without patient data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.errors import InputError


def phantom(
    out: Annotated[Path, typer.Argument(help="Folder to write the series into (created).")],
    slices: Annotated[int, typer.Option(min=8, max=1000, help="Number of slices.")] = 64,
    size: Annotated[int, typer.Option(min=64, max=1024, help="Rows and columns.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed; the same seed writes the same files.")] = 1,
) -> None:
    """Write a deterministic synthetic chest CT series (DICOM) with two lungs into OUT."""
    from hub.testing.dicom import write_series
    from hub.testing.phantoms import chest_ct_phantom

    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty", "give a new or empty folder")
    pixel = 360.0 / size
    spacing = (2.5, pixel, pixel)
    hu, _labels = chest_ct_phantom(
        slices=slices, rows=size, columns=size, spacing=spacing, seed=seed
    )
    paths = write_series(
        hu, out, modality="CT", spacing=spacing, seed=f"phantom-{seed}-{slices}-{size}",
        body_part="CHEST", series_description="Phantom chest CT", origin=(-180.0, -180.0, 0.0),
    )
    typer.echo(f"wrote {len(paths)} CT images ({slices} x {size} x {size}) to {out}")
