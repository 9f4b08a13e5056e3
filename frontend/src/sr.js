/**
 * The measurement groups of a TID 1500 Measurement Report (Comprehensive 3D SR), flattened for
 * display: tracking identifier, finding, measurements with units, qualitative evaluations,
 * the referenced SEG segment or source images (for "jump to slice"), and the algorithm.
 */
import { asArray, first } from "./dicomweb.js";

const IMAGING_MEASUREMENTS = "126010";
const MEASUREMENT_GROUP = "125007";
const TRACKING_ID = "112039";
const TRACKING_UID = "112040";
const FINDING = "121071";
const FINDING_CATEGORY = "276214006";
const FINDING_SITE = "363698007";
const REFERENCED_SEGMENT = "121191";
const ALGORITHM_NAME = "111001";
const ALGORITHM_VERSION = "111003";
const STRUCTURAL = new Set([TRACKING_ID, TRACKING_UID, FINDING, FINDING_CATEGORY, FINDING_SITE]);

function concept(item) {
  const code = first(asArray(item.ConceptNameCodeSequence)) || {};
  return { value: String(code.CodeValue || ""), meaning: code.CodeMeaning || "" };
}

function codeValue(item) {
  const code = first(asArray(item.ConceptCodeSequence)) || {};
  return { value: String(code.CodeValue || ""), meaning: code.CodeMeaning || "", scheme: code.CodingSchemeDesignator || "" };
}

function children(item) {
  return asArray(item.ContentSequence);
}

/** A unit as shown beside a number: the UCUM code ("ml", "mm"), nothing for "no units". */
export function unitText(unit) {
  if (!unit) return "";
  if (unit.CodingSchemeDesignator === "UCUM") return unit.CodeValue === "1" ? "" : String(unit.CodeValue);
  return unit.CodeMeaning || String(unit.CodeValue || "");
}

function measurement(item) {
  const measured = first(asArray(item.MeasuredValueSequence)) || {};
  const unit = first(asArray(measured.MeasurementUnitsCodeSequence));
  const algorithm = {};
  for (const child of children(item)) {
    const name = concept(child).value;
    if (name === ALGORITHM_NAME) algorithm.name = child.TextValue;
    if (name === ALGORITHM_VERSION) algorithm.version = child.TextValue;
  }
  return {
    name: concept(item).meaning,
    value: Number(first(measured.NumericValue, NaN)),
    unit: unitText(unit),
    unitMeaning: unit ? unit.CodeMeaning || "" : "",
    algorithm,
  };
}

function imageReferences(item) {
  return asArray(item.ReferencedSOPSequence).map((ref) => ({
    sop: ref.ReferencedSOPInstanceUID,
    frames: asArray(ref.ReferencedFrameNumber).map(Number),
    segments: asArray(ref.ReferencedSegmentNumber).map(Number),
  }));
}

function group(item) {
  const out = {
    trackingId: "",
    trackingUid: "",
    finding: "",
    category: "",
    site: "",
    measurements: [],
    evaluations: [],
    segment: null,
    images: [],
    algorithm: {},
  };
  for (const child of children(item)) {
    const name = concept(child);
    const type = child.ValueType;
    if (name.value === TRACKING_ID) out.trackingId = child.TextValue || "";
    else if (name.value === TRACKING_UID) out.trackingUid = child.UID || "";
    else if (name.value === FINDING) out.finding = codeValue(child).meaning;
    else if (name.value === FINDING_CATEGORY) out.category = codeValue(child).meaning;
    else if (name.value === FINDING_SITE) {
      const laterality = children(child).map((c) => codeValue(c).meaning).filter(Boolean);
      out.site = [codeValue(child).meaning, ...laterality].filter(Boolean).join(", ");
    } else if (name.value === REFERENCED_SEGMENT || (type === "IMAGE" && imageReferences(child).some((r) => r.segments.length))) {
      const ref = imageReferences(child).find((r) => r.segments.length);
      if (ref) out.segment = { sop: ref.sop, number: ref.segments[0] };
    } else if (type === "IMAGE") out.images.push(...imageReferences(child));
    else if (type === "NUM") {
      const m = measurement(child);
      out.measurements.push(m);
      if (m.algorithm.name && !out.algorithm.name) out.algorithm = m.algorithm;
    } else if (type === "CODE" && child.RelationshipType === "CONTAINS" && !STRUCTURAL.has(name.value)) {
      out.evaluations.push({ name: name.meaning, value: codeValue(child).meaning });
    } else if (type === "TEXT" && name.value === ALGORITHM_NAME) out.algorithm.name = child.TextValue;
    else if (type === "TEXT" && name.value === ALGORITHM_VERSION) out.algorithm.version = child.TextValue;
  }
  return out;
}

/**
 * Parse a naturalized SR dataset (WADO-RS metadata or a retrieved instance).
 *
 * @returns {{sop: string, seriesUID: string, title: string, groups: object[]}}
 */
export function parseReport(ds) {
  const groups = [];
  for (const item of children(ds)) {
    if (concept(item).value !== IMAGING_MEASUREMENTS) continue;
    for (const candidate of children(item)) {
      if (concept(candidate).value === MEASUREMENT_GROUP) groups.push(group(candidate));
    }
  }
  return {
    sop: ds.SOPInstanceUID,
    seriesUID: ds.SeriesInstanceUID,
    title: concept(ds).meaning || "Measurement report",
    description: ds.SeriesDescription || "",
    groups,
  };
}

/** The series an SR reports on: the series of its evidence (CurrentRequestedProcedureEvidenceSequence). */
export function evidenceSeries(ds) {
  const out = [];
  for (const study of asArray(ds.CurrentRequestedProcedureEvidenceSequence)) {
    for (const series of asArray(study.ReferencedSeriesSequence)) out.push(series.SeriesInstanceUID);
  }
  return out;
}
