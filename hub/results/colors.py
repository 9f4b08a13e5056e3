"""Segment display colours: one palette for the SEG writer, the server renderer and the viewer.

Every SEG the hub writes recommends a colour per segment (RecommendedDisplayCIELabValue), so
OHIF, the hub's viewer and its server-rendered frames all draw a segment in the same colour.
``frontend/src/colors.js`` holds the same list for SEGs that recommend none.
"""

from __future__ import annotations

#: Distinct on grey; index = segment number - 1.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (0, 0, 128), (128, 128, 0),
)

#: D65 reference white (CIE XYZ, Y = 1).
_WHITE = (0.95047, 1.0, 1.08883)


def palette_color(segment_number: int) -> tuple[int, int, int]:
    """The palette colour of a segment (numbers start at 1, the palette repeats)."""
    return PALETTE[(max(1, segment_number) - 1) % len(PALETTE)]


def rgb_to_cielab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (0-255) to CIE L*a*b* (D65): L* in 0..100, a* and b* in about -128..127."""

    def linear(channel: int) -> float:
        c = channel / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    xyz = (
        0.4124564 * r + 0.3575761 * g + 0.1804375 * b,
        0.2126729 * r + 0.7151522 * g + 0.0721750 * b,
        0.0193339 * r + 0.1191920 * g + 0.9503041 * b,
    )

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(value / white) for value, white in zip(xyz, _WHITE, strict=True))
    lightness = 116 * fy - 16
    a = 500 * (fx - fy)
    b_star = 200 * (fy - fz)
    return (
        min(max(lightness, 0.0), 100.0),
        min(max(a, -128.0), 127.0),
        min(max(b_star, -128.0), 127.0),
    )
