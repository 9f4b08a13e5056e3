/**
 * An image series as an ordered stack of slices (one per frame), from its WADO-RS metadata.
 *
 * Slices are ordered along the normal of the image plane (ascending position: for an axial
 * series slice 0 is the most inferior), falling back to InstanceNumber when positions are
 * missing (projection images).
 */
import { asArray, first } from "./dicomweb.js";

/** Modalities that are results or documents, never a stack to scroll. */
export const NON_IMAGE_MODALITIES = new Set(["SEG", "SR", "KO", "PR", "RTSTRUCT", "DOC"]);

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function dot(a, b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/**
 * Build the ordered slices of a series.
 *
 * @param {object[]} natural naturalized instance metadata
 * @param {object[]} raw the same instances as DICOM JSON (kept for the image loader)
 * @returns {{sop: string, frame: number, position: number[]|null, raw: object}[]}
 */
export function buildStack(natural, raw) {
  const slices = [];
  natural.forEach((ds, index) => {
    const frames = Number(first(ds.NumberOfFrames, 1)) || 1;
    const orientation = asArray(ds.ImageOrientationPatient).map(Number);
    const position = asArray(ds.ImagePositionPatient).map(Number);
    const normal = orientation.length === 6 ? cross(orientation.slice(0, 3), orientation.slice(3)) : null;
    for (let frame = 1; frame <= frames; frame += 1) {
      slices.push({
        sop: ds.SOPInstanceUID,
        frame,
        multiframe: frames > 1,
        instanceNumber: Number(first(ds.InstanceNumber, index + 1)),
        distance: normal && position.length === 3 && frames === 1 ? dot(normal, position) : null,
        position: position.length === 3 ? position : null,
        raw: raw[index],
      });
    }
  });
  const positioned = slices.every((s) => s.distance !== null);
  slices.sort((a, b) =>
    positioned && a.distance !== b.distance
      ? a.distance - b.distance
      : a.instanceNumber - b.instanceNumber || a.frame - b.frame,
  );
  return slices;
}

/** The image series of a study (everything but results and documents), by series number. */
export function imageSeries(series) {
  return series
    .filter((s) => !NON_IMAGE_MODALITIES.has(first(s.Modality, "")))
    .sort((a, b) => Number(first(a.SeriesNumber, 0)) - Number(first(b.SeriesNumber, 0)));
}
