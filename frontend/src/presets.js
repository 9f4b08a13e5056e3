/** Window/level presets (width, centre in Hounsfield units for CT). */
export const PRESETS = {
  lung: { label: "Lung", windowWidth: 1500, windowCenter: -600, key: "1" },
  "soft-tissue": { label: "Soft tissue", windowWidth: 400, windowCenter: 40, key: "2" },
  bone: { label: "Bone", windowWidth: 2000, windowCenter: 300, key: "3" },
  brain: { label: "Brain", windowWidth: 80, windowCenter: 40, key: "4" },
};

/** VOI range `{lower, upper}` of a window width and centre (linear VOI LUT, PS3.3 C.11.2.1.2). */
export function toRange(windowWidth, windowCenter) {
  return { lower: windowCenter - windowWidth / 2, upper: windowCenter + windowWidth / 2 };
}

/** Window width and centre of a VOI range. */
export function fromRange(range) {
  return {
    windowWidth: Math.max(1, range.upper - range.lower),
    windowCenter: (range.upper + range.lower) / 2,
  };
}
