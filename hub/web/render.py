"""Render one frame of a stored image to PNG or JPEG (numpy + Pillow).

The grayscale pipeline of PS3.3 C.11 (and PS3.4 N.2): stored values -> Modality LUT (Rescale
Slope/Intercept, from the frame's functional groups for enhanced multi-frame objects) -> VOI
(the caller's window, else the file's Window Center/Width or VOI LUT, else the frame's value
range) -> MONOCHROME1 inversion -> 8 bits. Colour images (RGB, YBR, palette) are shown as
decoded. Segmentation masks are blended over the result, each in its own colour
(:func:`lab_to_rgb` for a SEG's RecommendedDisplayCIELabValue, else :data:`PALETTE`).

Used by WADO-RS ``/rendered`` and ``/thumbnail`` and the viewer's ``/frames`` endpoint.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_voi

from hub.web.dicomweb.frames import frame_array

Format = Literal["image/png", "image/jpeg"]


@dataclass(frozen=True)
class Window:
    """A VOI window: center and width in modality units, and the VOI LUT function."""

    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class Mask:
    """A boolean mask (rows x columns) drawn in ``color`` (RGB 0-255)."""

    mask: np.ndarray
    color: tuple[int, int, int]


def lab_to_rgb(dicom_lab: Sequence[int]) -> tuple[int, int, int]:
    """sRGB of a DICOM CIELab triplet (PS3.3 C.10.7.1.1: L 0-65535 -> 0-100, a/b -> -128-127)."""
    lightness = dicom_lab[0] * 100.0 / 65535.0
    a = dicom_lab[1] * 255.0 / 65535.0 - 128.0
    b = dicom_lab[2] * 255.0 / 65535.0 - 128.0
    fy = (lightness + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def inverse(t: float) -> float:
        return t**3 if t > 6.0 / 29.0 else 3 * (6.0 / 29.0) ** 2 * (t - 4.0 / 29.0)

    x, y, z = 0.950456 * inverse(fx), inverse(fy), 1.088754 * inverse(fz)
    linear = (
        3.2404542 * x - 1.5371385 * y - 0.4985314 * z,
        -0.9692660 * x + 1.8760108 * y + 0.0415560 * z,
        0.0556434 * x - 0.2040259 * y + 1.0572252 * z,
    )

    def gamma(c: float) -> int:
        c = min(max(c, 0.0), 1.0)
        c = 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055
        return int(round(c * 255))

    r, g, b_ = (gamma(c) for c in linear)
    return r, g, b_


def _functional(header: Dataset, number: int, sequence: str, keyword: str) -> object | None:
    """``keyword`` of frame ``number`` from the per-frame or shared functional groups."""
    for groups, index in (
        ("PerFrameFunctionalGroupsSequence", number - 1),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        items = header.get(groups)
        if not items or index >= len(items):
            continue
        inner = items[index].get(sequence)
        if inner and keyword in inner[0]:
            return inner[0].get(keyword)
    return None


def _first(value: object) -> float | None:
    """The first number of a (possibly multi-valued) element value."""
    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def modality_values(header: Dataset, number: int, stored: np.ndarray) -> np.ndarray:
    """Stored values through the Modality LUT (rescale slope/intercept) as float."""
    slope = _first(header.get("RescaleSlope"))
    intercept = _first(header.get("RescaleIntercept"))
    if slope is None:
        group = "PixelValueTransformationSequence"
        slope = _first(_functional(header, number, group, "RescaleSlope"))
        intercept = _first(_functional(header, number, group, "RescaleIntercept"))
    values = stored.astype(np.float64)
    if slope is not None:
        values = values * slope + (intercept or 0.0)
    return values


def file_window(header: Dataset, number: int) -> Window | None:
    """The first window the file recommends for frame ``number``, if any."""
    center = _first(header.get("WindowCenter"))
    width = _first(header.get("WindowWidth"))
    function = str(header.get("VOILUTFunction", "") or "LINEAR")
    if center is None or width is None:
        center = _first(_functional(header, number, "FrameVOILUTSequence", "WindowCenter"))
        width = _first(_functional(header, number, "FrameVOILUTSequence", "WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width, function.upper())


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Map modality values to 0-255 with ``window`` (PS3.3 C.11.2.1.2-3)."""
    c, w = window.center, max(window.width, 1.0)
    if window.function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    elif window.function == "LINEAR_EXACT":
        out = ((values - c) / w + 0.5) * 255.0
    else:
        out = ((values - (c - 0.5)) / max(w - 1.0, 1.0) + 0.5) * 255.0
    return np.clip(out, 0, 255)


def to_display(
    header: Dataset, number: int, stored: np.ndarray, window: Window | None
) -> np.ndarray:
    """Frame ``number``'s stored values as 8-bit grayscale (rows x columns) or RGB."""
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        stored = apply_color_lut(stored, header)
    if stored.ndim == 3:  # colour, decoded to RGB
        if stored.dtype == np.uint8:
            return stored
        peak = 65535.0 if stored.dtype == np.uint16 else float(stored.max()) or 1.0
        return np.clip(stored.astype(np.float64) * 255.0 / peak, 0, 255).astype(np.uint8)
    values = modality_values(header, number, stored)
    chosen = window or file_window(header, number)
    if chosen is None and header.get("VOILUTSequence"):
        out = _voi_lut(header, values)
    elif chosen is None:
        low, high = float(values.min()), float(values.max())
        if high <= low:
            high = low + 1.0
        out = apply_window(values, Window((low + high) / 2.0, high - low, "LINEAR_EXACT"))
    else:
        out = apply_window(values, chosen)
    if photometric == "MONOCHROME1":
        out = 255.0 - out
    return np.rint(out).astype(np.uint8)


def _voi_lut(header: Dataset, values: np.ndarray) -> np.ndarray:
    """The file's first VOI LUT (PS3.3 C.11.2.1.1) applied, scaled to 0-255."""
    item = header.VOILUTSequence[0]
    bits = int(item.LUTDescriptor[2]) or 16
    mapped = apply_voi(np.rint(values).astype(np.int64), header)
    return np.clip(mapped.astype(np.float64) * 255.0 / float(2**bits - 1), 0, 255)


def blend(image: np.ndarray, masks: Sequence[Mask], opacity: float) -> np.ndarray:
    """``image`` (gray or RGB uint8) with each mask painted in its colour at ``opacity``."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()
    alpha = min(max(opacity, 0.0), 1.0)
    out = rgb.astype(np.float64)
    for item in masks:
        if item.mask.shape != rgb.shape[:2]:
            continue
        color = np.asarray(item.color, dtype=np.float64)
        out[item.mask] = (1.0 - alpha) * out[item.mask] + alpha * color
    return np.rint(out).astype(np.uint8)


def encode(image: np.ndarray, fmt: Format, *, size: tuple[int, int] | None = None,
           quality: int = 90) -> bytes:
    """PNG or JPEG bytes of ``image``; ``size`` fits it into a box keeping its aspect."""
    picture = Image.fromarray(image)
    if size is not None:
        width, height = size
        scale = min(width / picture.width, height / picture.height)
        target = (
            max(1, math.floor(picture.width * scale)),
            max(1, math.floor(picture.height * scale)),
        )
        picture = picture.resize(target, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    if fmt == "image/png":
        picture.save(buffer, format="PNG")
    else:
        picture.convert("RGB" if picture.mode not in ("L", "RGB") else picture.mode).save(
            buffer, format="JPEG", quality=min(max(quality, 1), 100)
        )
    return buffer.getvalue()


def render_frame(
    path: Path,
    header: Dataset,
    number: int,
    fmt: Format,
    *,
    window: Window | None = None,
    masks: Sequence[Mask] = (),
    opacity: float = 0.5,
    size: tuple[int, int] | None = None,
    quality: int = 90,
) -> bytes:
    """Frame ``number`` (1-based) of ``path`` rendered, masks blended, encoded as ``fmt``."""
    image = to_display(header, number, frame_array(path, number), window)
    if masks:
        image = blend(image, masks, opacity)
    return encode(image, fmt, size=size, quality=quality)
