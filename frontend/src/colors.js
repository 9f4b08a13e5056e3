/**
 * Segment colours: DICOM's RecommendedDisplayCIELabValue when the SEG has one, else a fixed
 * palette by segment number (the same palette the server-rendered fallback is asked to use).
 */

/**
 * Distinct colours on grey (index = segment number - 1): the same list as the server's
 * renderer and the SEG writer (hub/results/colors.py PALETTE), so the fallback's overlay matches the legend.
 */
export const PALETTE = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
  [0, 128, 128], [220, 190, 255], [170, 110, 40], [128, 0, 0], [0, 0, 128], [128, 128, 0],
];

/** The colour of segment `number` from the palette (numbers start at 1). */
export function paletteColor(number) {
  return PALETTE[(Math.max(1, number) - 1) % PALETTE.length];
}

/**
 * DICOM scaled CIELab (PS3.3 C.10.7.1.1: L 0..65535 -> 0..100, a/b 0..65535 -> -128..127)
 * to sRGB 0..255 (D65 white point).
 */
export function dicomLabToRgb(lab) {
  const L = (lab[0] / 65535) * 100;
  const a = (lab[1] / 65535) * 255 - 128;
  const b = (lab[2] / 65535) * 255 - 128;
  let y = (L + 16) / 116;
  let x = a / 500 + y;
  let z = y - b / 200;
  const f = (t) => (t ** 3 > 0.008856 ? t ** 3 : (t - 16 / 116) / 7.787);
  x = 0.95047 * f(x);
  y = 1.0 * f(y);
  z = 1.08883 * f(z);
  const lin = [
    x * 3.2406 + y * -1.5372 + z * -0.4986,
    x * -0.9689 + y * 1.8758 + z * 0.0415,
    x * 0.0557 + y * -0.204 + z * 1.057,
  ];
  return lin.map((c) => {
    const s = c > 0.0031308 ? 1.055 * c ** (1 / 2.4) - 0.055 : 12.92 * c;
    return Math.round(Math.min(1, Math.max(0, s)) * 255);
  });
}

/** `#rrggbb` of an `[r, g, b]` colour. */
export function toHex(rgb) {
  return `#${rgb.map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}
