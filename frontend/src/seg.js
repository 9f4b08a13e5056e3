/**
 * DICOM Segmentation (BINARY, FRACTIONAL or LABELMAP) decoded into per-slice masks of a stack.
 *
 * Each SEG frame is placed on the slice of the displayed series it was derived from
 * (DerivationImageSequence / SourceImageSequence), else on the slice at the same
 * ImagePositionPatient. The result is what both renderers need: segments with colours and
 * labels, a label image per slice (0 = background, else the segment number) and, per segment,
 * the pixel count on each slice (the legend shows where a segment is; a finding jumps to the
 * slice where its segment is largest).
 */
import { asArray, first } from "./dicomweb.js";
import { dicomLabToRgb, paletteColor } from "./colors.js";

const RLE_LOSSLESS = "1.2.840.10008.1.2.5";
const LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7";

function codeMeaning(sequence) {
  return first(asArray(sequence).map((item) => item.CodeMeaning).filter(Boolean), "");
}

/** The segments described by a SEG, with their display colours. */
export function describeSegments(ds) {
  return asArray(ds.SegmentSequence).map((item) => {
    const number = Number(item.SegmentNumber);
    const lab = asArray(item.RecommendedDisplayCIELabValue).map(Number);
    const type = first(asArray(item.SegmentedPropertyTypeCodeSequence));
    const modifier = type ? codeMeaning(type.SegmentedPropertyTypeModifierCodeSequence) : "";
    return {
      number,
      label: item.SegmentLabel || codeMeaning(item.SegmentedPropertyTypeCodeSequence) || `Segment ${number}`,
      type: codeMeaning(item.SegmentedPropertyTypeCodeSequence),
      modifier,
      trackingUid: item.TrackingUID || "",
      color: lab.length === 3 ? dicomLabToRgb(lab) : paletteColor(number),
    };
  });
}

/** The series a SEG was made from (its ReferencedSeriesSequence), or "". */
export function referencedSeries(ds) {
  return first(asArray(ds.ReferencedSeriesSequence).map((item) => item.SeriesInstanceUID), "");
}

function pixelBuffers(ds) {
  return asArray(ds.PixelData).flatMap((part) => (Array.isArray(part) ? part : [part]));
}

function concat(buffers) {
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** Decode one DICOM RLE Lossless frame (PS3.5 G) of 8- or 16-bit single-sample pixels. */
export function decodeRle(buffer, pixels, bytesPerPixel) {
  const data = new Uint8Array(buffer);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  const out = bytesPerPixel === 2 ? new Uint16Array(pixels) : new Uint8Array(pixels);
  for (let s = 0; s < segments; s += 1) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    // segment 0 holds the most significant byte
    const shift = 8 * (bytesPerPixel - 1 - s);
    let i = start;
    let p = 0;
    while (i < end && p < pixels) {
      const n = (data[i] << 24) >> 24; // signed byte
      i += 1;
      if (n >= 0) {
        for (let k = 0; k <= n && p < pixels; k += 1) out[p++] |= data[i + k] << shift;
        i += n + 1;
      } else if (n !== -128) {
        const value = data[i] << shift;
        i += 1;
        for (let k = 0; k < 1 - n && p < pixels; k += 1) out[p++] |= value;
      }
    }
  }
  return out;
}

/** The frames of a SEG as arrays of `rows * columns` values (0/1 for binary, labels for labelmap). */
export function decodeFrames(ds) {
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const pixels = rows * columns;
  const count = Number(first(ds.NumberOfFrames, 1)) || 1;
  const bits = Number(ds.BitsAllocated);
  const syntax = ds._meta ? ds._meta.TransferSyntaxUID : "";
  const buffers = pixelBuffers(ds);
  const frames = [];
  if (syntax === RLE_LOSSLESS) {
    for (let f = 0; f < count; f += 1) frames.push(decodeRle(buffers[f], pixels, bits / 8));
  } else if (bits === 1) {
    const packed = concat(buffers);
    for (let f = 0; f < count; f += 1) {
      const frame = new Uint8Array(pixels);
      const base = f * pixels;
      for (let p = 0; p < pixels; p += 1) {
        const bit = base + p;
        frame[p] = (packed[bit >> 3] >> (bit & 7)) & 1;
      }
      frames.push(frame);
    }
  } else {
    const all = concat(buffers);
    const size = pixels * (bits / 8);
    for (let f = 0; f < count; f += 1) {
      const slice = all.buffer.slice(f * size, (f + 1) * size);
      frames.push(bits === 16 ? new Uint16Array(slice) : new Uint8Array(slice));
    }
  }
  if (ds.SegmentationType === "FRACTIONAL") {
    const threshold = Number(first(ds.MaximumFractionalValue, 255)) / 2;
    return frames.map((frame) => frame.map((v) => (v > threshold ? 1 : 0)));
  }
  return frames;
}

function frameSource(group) {
  for (const derivation of asArray(group.DerivationImageSequence)) {
    for (const source of asArray(derivation.SourceImageSequence)) {
      if (source.ReferencedSOPInstanceUID) {
        return {
          sop: source.ReferencedSOPInstanceUID,
          frame: Number(first(source.ReferencedFrameNumber, 1)) || 1,
        };
      }
    }
  }
  return null;
}

function framePosition(group) {
  const plane = first(asArray(group.PlanePositionSequence));
  const position = plane ? asArray(plane.ImagePositionPatient).map(Number) : [];
  return position.length === 3 ? position : null;
}

function slicePlaceFinder(slices) {
  const bySource = new Map(slices.map((s, i) => [`${s.sop}|${s.frame}`, i]));
  const positioned = slices.map((s, i) => [s.position, i]).filter(([p]) => p);
  return (source, position) => {
    if (source && bySource.has(`${source.sop}|${source.frame}`)) {
      return bySource.get(`${source.sop}|${source.frame}`);
    }
    if (!position) return -1;
    let best = -1;
    let bestDistance = 0.01; // mm: the same plane, within rounding
    for (const [p, i] of positioned) {
      const d = Math.hypot(p[0] - position[0], p[1] - position[1], p[2] - position[2]);
      if (d < bestDistance) {
        best = i;
        bestDistance = d;
      }
    }
    return best;
  };
}

/**
 * Decode a SEG onto a stack of slices.
 *
 * @param {object} ds naturalized SEG dataset (from `retrieveInstance`)
 * @param {{sop: string, frame: number, position: number[]|null}[]} slices the displayed stack
 * @returns {{sop, seriesUID, label, segments, labels: (Uint8Array|null)[], counts: Map, rows, columns, placed, unplaced}}
 */
export function segOnStack(ds, slices) {
  const segments = describeSegments(ds);
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const frames = decodeFrames(ds);
  const perFrame = asArray(ds.PerFrameFunctionalGroupsSequence);
  const place = slicePlaceFinder(slices);
  const labelmap = ds.SOPClassUID === LABELMAP_SOP_CLASS || ds.SegmentationType === "LABELMAP";
  const labels = slices.map(() => null);
  const counts = new Map(segments.map((s) => [s.number, new Array(slices.length).fill(0)]));
  let placed = 0;
  let unplaced = 0;
  frames.forEach((frame, f) => {
    const group = perFrame[f] || {};
    const index = place(frameSource(group), framePosition(group));
    if (index < 0) {
      unplaced += 1;
      return;
    }
    placed += 1;
    const segmentNumber = labelmap
      ? null
      : Number(first(asArray(group.SegmentIdentificationSequence).map((s) => s.ReferencedSegmentNumber), 1));
    const target = labels[index] || (labels[index] = new Uint8Array(rows * columns));
    for (let p = 0; p < frame.length; p += 1) {
      const value = frame[p];
      if (!value) continue;
      const number = labelmap ? value : segmentNumber;
      target[p] = number;
    }
  });
  labels.forEach((label, index) => {
    if (!label) return;
    for (let p = 0; p < label.length; p += 1) {
      const series = label[p] && counts.get(label[p]);
      if (series) series[index] += 1;
    }
  });
  for (const segment of segments) {
    const perSlice = counts.get(segment.number);
    let best = -1;
    perSlice.forEach((n, i) => {
      if (n > 0 && (best < 0 || n > perSlice[best])) best = i;
    });
    segment.bestSlice = best;
    segment.slices = perSlice.map((n, i) => (n > 0 ? i : -1)).filter((i) => i >= 0);
    segment.voxels = perSlice.reduce((a, b) => a + b, 0);
  }
  return {
    sop: ds.SOPInstanceUID,
    seriesUID: ds.SeriesInstanceUID,
    label: ds.SeriesDescription || ds.ContentLabel || "Segmentation",
    segments,
    labels,
    counts,
    rows,
    columns,
    placed,
    unplaced,
  };
}
