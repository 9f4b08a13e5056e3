"""Deterministic synthetic phantoms with known label maps, for tests, benchmarks and training.

:func:`chest_ct_phantom` draws an axial chest CT in Hounsfield units with a label map of the
two lungs. Everything is sized in millimetres, so the same seed at another spacing shows the
same anatomy at another resolution. Axes follow DICOM LPS for an axial series with orientation
``(1, 0, 0, 0, 1, 0)``: the column index grows toward the patient's left, the row index toward
posterior and the slice index toward the head (slice 0 is the most inferior).

Plain, vectorised numpy: a ``200 x 512 x 512`` phantom takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Label values of :func:`chest_ct_phantom`.
RIGHT_LUNG = 1
LEFT_LUNG = 2

_AIR = -1000.0
_FAT = -100.0
_MUSCLE = 50.0
_SOFT = 40.0
_BLOOD = 45.0
_LUNG = -850.0
_BONE = 700.0
_MARROW = 250.0
_TABLE = 150.0


@dataclass(frozen=True)
class _Anatomy:
    """The seed-dependent sizes and positions (mm) of one chest phantom."""

    body_center: tuple[float, float]  # (x, y)
    body_axes: tuple[float, float]  # half width, half depth
    body_power: float
    fat: float
    muscle: float
    lung_x: tuple[float, float]  # right (negative x), left (positive x) centre offsets
    lung_y: tuple[float, float]
    lung_axes: tuple[tuple[float, float], tuple[float, float]]
    dome: tuple[float, float]  # diaphragm dome height as a fraction of lung length
    lung_length: float
    lung_center_z: float
    heart_center: tuple[float, float]
    heart_axes: tuple[float, float]
    spine_radius: float
    trachea_radius: float
    rib_count: int
    rib_period: float
    table_gap: float
    noise: float


def _draw_anatomy(rng: np.random.Generator, extent_z: float) -> _Anatomy:
    bx, by = rng.uniform(145.0, 172.0), rng.uniform(100.0, 125.0)
    fat, muscle = rng.uniform(6.0, 24.0), rng.uniform(7.0, 13.0)
    cav_x, cav_y = bx - fat - muscle - 8.0, by - fat - muscle - 8.0
    lungs = tuple(
        (rng.uniform(0.40, 0.48) * cav_x, rng.uniform(0.74, 0.88) * cav_y) for _ in range(2)
    )
    length = min(0.82 * extent_z, rng.uniform(230.0, 290.0))
    return _Anatomy(
        body_center=(rng.uniform(-12.0, 12.0), rng.uniform(-15.0, 5.0)),
        body_axes=(bx, by),
        body_power=rng.uniform(2.0, 2.6),
        fat=fat,
        muscle=muscle,
        lung_x=(-rng.uniform(0.50, 0.56) * cav_x, rng.uniform(0.50, 0.56) * cav_x),
        lung_y=(rng.uniform(0.0, 0.12) * cav_y, rng.uniform(0.0, 0.12) * cav_y),
        lung_axes=lungs,  # type: ignore[arg-type]
        dome=(rng.uniform(0.14, 0.22), rng.uniform(0.10, 0.17)),
        lung_length=length,
        lung_center_z=rng.uniform(-0.04, 0.04) * extent_z,
        heart_center=(rng.uniform(0.12, 0.25) * cav_x, -rng.uniform(0.25, 0.4) * cav_y),
        heart_axes=(rng.uniform(0.42, 0.52) * cav_x, rng.uniform(0.45, 0.55) * cav_y),
        spine_radius=rng.uniform(14.0, 19.0),
        trachea_radius=rng.uniform(7.0, 10.0),
        rib_count=int(rng.integers(9, 13)),
        rib_period=rng.uniform(22.0, 30.0),
        table_gap=rng.uniform(8.0, 30.0),
        noise=rng.uniform(10.0, 28.0),
    )


def _superellipse(
    x: np.ndarray, y: np.ndarray, center: tuple[float, float], axes: tuple[float, float],
    power: float = 2.0,
) -> np.ndarray:
    """Normalised radius (1 on the boundary) of a super-ellipse, broadcast over ``x``/``y``."""
    u = np.abs((x - center[0]) / axes[0])
    v = np.abs((y - center[1]) / axes[1])
    return (u**power + v**power) ** (1.0 / power)


def _vessel_map(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, spacing: tuple[float, float],
    extent: tuple[float, float],
) -> np.ndarray:
    """A 2D map of small discs (0..1) standing for pulmonary vessels cut across."""
    rows, cols = y.shape[0], x.shape[1]
    out = np.zeros((rows, cols), dtype=np.float32)
    count = 220
    centers_x = rng.uniform(-extent[0], extent[0], count)
    centers_y = rng.uniform(-extent[1], extent[1], count)
    # Vessels are thicker near the hila (the middle) and thin toward the periphery.
    near = 1.0 - np.clip(np.hypot(centers_x / extent[0], centers_y / extent[1]), 0.0, 1.0)
    radii = 0.8 + 3.2 * near * rng.uniform(0.3, 1.0, count)
    dy, dx = spacing
    for cx, cy, radius in zip(centers_x, centers_y, radii, strict=True):
        j0, j1 = np.searchsorted(x[0], [cx - radius, cx + radius])
        i0, i1 = np.searchsorted(y[:, 0], [cy - radius, cy + radius])
        if j1 <= j0 or i1 <= i0:
            if radius < max(dx, dy):  # sub-voxel vessel: one partial-volume voxel
                i, j = np.searchsorted(y[:, 0], cy), np.searchsorted(x[0], cx)
                if 0 <= i < rows and 0 <= j < cols:
                    out[i, j] = max(out[i, j], 0.5)
            continue
        d2 = (x[:, j0:j1] - cx) ** 2 + (y[i0:i1] - cy) ** 2
        np.maximum(out[i0:i1, j0:j1], (d2 <= radius**2).astype(np.float32),
                   out=out[i0:i1, j0:j1])
    return out


def chest_ct_phantom(
    slices: int = 64,
    rows: int = 256,
    columns: int = 256,
    spacing: Sequence[float] = (5.0, 1.4, 1.4),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic axial chest CT and its lung label map.

    Args:
        slices, rows, columns: volume shape.
        spacing: ``(slice, row, column)`` spacing in mm; anatomy is sized in mm, so a
            ``512 x 512`` slice at 0.7 mm shows a ~36 cm field of view holding the chest.
        seed: drives body and organ sizes/positions, vessels and noise; the same arguments
            always give the same arrays.

    Returns:
        ``(hu, labels)``: float32 Hounsfield units and a uint8 label map, both
        ``(slices, rows, columns)``; labels are 0 background, :data:`RIGHT_LUNG` (1, at low
        column indices) and :data:`LEFT_LUNG` (2). The lungs span ~80 % of the z extent (at
        most ~29 cm), tapering to the apex at the top and the diaphragm domes at the bottom.
    """
    if slices < 1 or rows < 8 or columns < 8:
        raise ValueError(f"shape ({slices}, {rows}, {columns}) too small: need >= (1, 8, 8)")
    dz, dy, dx = (float(s) for s in spacing)
    if min(dz, dy, dx) <= 0:
        raise ValueError(f"spacing {tuple(spacing)} must be positive (mm)")
    rng = np.random.default_rng(seed)
    a = _draw_anatomy(rng, slices * dz)
    y = ((np.arange(rows, dtype=np.float32) - (rows - 1) / 2) * dy)[:, None]
    x = ((np.arange(columns, dtype=np.float32) - (columns - 1) / 2) * dx)[None, :]
    z = (np.arange(slices, dtype=np.float32) - (slices - 1) / 2) * dz

    bx, by = a.body_axes
    cx, cy = a.body_center
    r_body = _superellipse(x, y, a.body_center, a.body_axes, a.body_power)
    wall = a.fat + a.muscle
    r_muscle = _superellipse(x, y, a.body_center, (bx - a.fat, by - a.fat), a.body_power)
    r_cavity = _superellipse(x, y, a.body_center, (bx - wall - 8.0, by - wall - 8.0))
    r_ribs = _superellipse(x, y, a.body_center, (bx - wall - 4.0, by - wall - 4.0))
    theta = np.arctan2(y - cy, x - cx)

    # The slice-independent background: air, table, fat, muscle, mediastinal soft tissue.
    base = np.full((rows, columns), _AIR, dtype=np.float32)
    table_y = cy + by + a.table_gap
    base[(y >= table_y) & (y <= table_y + 9.0) & (np.abs(x) <= 220.0)] = _TABLE
    base[r_body <= 1.0] = _FAT
    base[r_muscle <= 1.0] = _MUSCLE
    base[r_cavity <= 1.0] = _SOFT

    spine_y = cy + by - wall - a.spine_radius - 6.0
    spine_d = np.hypot(x - cx, y - spine_y)
    canal_d = np.hypot(x - cx, y - (spine_y + a.spine_radius + 8.0))
    base[spine_d <= a.spine_radius] = _MARROW
    base[(spine_d <= a.spine_radius) & (spine_d >= a.spine_radius - 2.0)] = _BONE
    base[(canal_d <= 14.0) & (np.abs(y - (spine_y + a.spine_radius + 10.0)) <= 9.0)] = _BONE
    base[canal_d <= 7.0] = _SOFT
    sternum = (np.abs(x - cx) <= 12.0) & (np.abs(y - (cy - by + wall + 2.0)) <= 5.0)
    base[sternum] = _BONE
    spine_keepout = (np.abs(x - cx) <= a.spine_radius + 6.0) & (y >= spine_y - a.spine_radius)

    trachea_y = spine_y - a.spine_radius - a.trachea_radius - 6.0
    trachea = np.hypot(x - cx, y - trachea_y) <= a.trachea_radius
    aorta = np.hypot(x - (cx + 0.35 * a.spine_radius + 12.0), y - (spine_y - a.spine_radius
                                                                   - 12.0)) <= 13.0
    rib_band = np.abs(r_ribs - 1.0) * min(bx, by) <= 4.0
    hx, hy = a.heart_center
    heart_r = _superellipse(x, y, (cx + hx, cy + hy), a.heart_axes)

    cav_ext = (bx - wall, by - wall)
    vessels = _vessel_map(rng, x, y, (dy, dx), cav_ext)
    lung_gradient = (25.0 * (y - cy) / by).astype(np.float32)

    hu = np.empty((slices, rows, columns), dtype=np.float32)
    labels = np.zeros((slices, rows, columns), dtype=np.uint8)
    z_base = a.lung_center_z - a.lung_length / 2
    for k in range(slices):
        t = (float(z[k]) - z_base) / a.lung_length  # 0 at the lung base, 1 at the apex
        img = base.copy()
        img[aorta] = _BLOOD
        # Ribs: arcs whose phase turns with z, so they come and go from slice to slice.
        ribs = rib_band & (np.cos(a.rib_count * theta + 2 * np.pi * z[k] / a.rib_period) > 0.35)
        img[ribs] = _BONE
        heart_scale = np.sin(np.pi * np.clip((t + 0.1) / 0.75, 0.0, 1.0)) ** 0.5
        heart = heart_r <= heart_scale if heart_scale > 0.05 else None
        if heart is not None:
            img[heart] = _BLOOD
        taper = float(np.sqrt(np.clip((1.0 - t) / 0.3, 0.0, 1.0)))
        if 0.0 <= t <= 1.0 and taper > 0.05:
            shift = (int(round(6.0 * np.sin(z[k] / 37.0) / dy)),
                     int(round(6.0 * np.cos(z[k] / 41.0) / dx)))
            vessel = np.roll(vessels, shift, axis=(0, 1))
            for side, label in ((0, RIGHT_LUNG), (1, LEFT_LUNG)):
                lx, ly = a.lung_x[side], a.lung_y[side]
                ax_, ay_ = a.lung_axes[side]
                # Toward the apex the lung shrinks toward its posterolateral top.
                center = (cx + lx * (1.0 + 0.15 * (1 - taper)), cy + ly + 0.2 * ay_ * (1 - taper))
                rho = _superellipse(x, y, center, (ax_ * taper, ay_ * taper), 2.2)
                lung = (rho < 1.0) & (r_cavity <= 1.0) & ~spine_keepout
                lung &= t >= a.dome[side] * (1.0 - np.minimum(rho, 1.0) ** 2)
                if heart is not None:
                    lung &= ~heart
                lung &= ~trachea
                img[lung] = (_LUNG + lung_gradient[np.nonzero(lung)[0], 0]
                             + (_BLOOD - _LUNG) * vessel[lung])
                labels[k][lung] = label
        if t >= 0.55:
            img[trachea] = _AIR
        hu[k] = img
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    noise *= np.float32(a.noise)
    hu += noise
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return hu, labels
