/**
 * The few DICOMweb calls the viewer makes, all same-origin with the session cookie:
 * QIDO-RS series search, WADO-RS series metadata and WADO-RS instance retrieval.
 */
import dcmjs from "dcmjs";

const { DicomMetaDictionary, DicomMessage } = dcmjs.data;

/** An HTTP failure with the status and the URL's path (no query, no host). */
export class FetchError extends Error {
  constructor(url, status, detail) {
    super(`${new URL(url, window.location.href).pathname} answered ${status}${detail ? `: ${detail}` : ""}`);
    this.status = status;
  }
}

async function request(url, accept) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: accept },
  });
  if (!response.ok) {
    let detail = "";
    try {
      const body = await response.json();
      detail = body.detail || body.title || "";
    } catch {
      // not JSON: the status says enough
    }
    throw new FetchError(url, response.status, detail);
  }
  return response;
}

/** GET a DICOM JSON array (QIDO or metadata); an empty body (204) is an empty array. */
export async function getJson(url) {
  const response = await request(url, "application/dicom+json, application/json");
  if (response.status === 204) return [];
  const text = await response.text();
  return text ? JSON.parse(text) : [];
}

/** DICOM JSON datasets as dcmjs "naturalized" objects (keywords as keys). */
export function naturalize(datasets) {
  return datasets.map((ds) => DicomMetaDictionary.naturalizeDataset(ds));
}

/** Always an array: dcmjs gives a bare value for one-item values. */
export function asArray(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? Array.from(value) : [value];
}

/** The first value of a naturalized attribute (or `fallback`). */
export function first(value, fallback = undefined) {
  const values = asArray(value);
  return values.length ? values[0] : fallback;
}

/** The series of a study (QIDO-RS), naturalized. */
export async function searchSeries(root, study) {
  return naturalize(await getJson(`${root}/studies/${study}/series`));
}

/** The metadata of every instance of a series (WADO-RS), naturalized, and the raw JSON. */
export async function seriesMetadata(root, study, series) {
  const raw = await getJson(`${root}/studies/${study}/series/${series}/metadata`);
  return { raw, natural: naturalize(raw) };
}

/**
 * Retrieve one instance (WADO-RS, multipart/related; type="application/dicom") and parse it
 * with dcmjs; returns the naturalized dataset (PixelData as ArrayBuffers).
 */
export async function retrieveInstance(root, study, series, sop) {
  const url = `${root}/studies/${study}/series/${series}/instances/${sop}`;
  const response = await request(url, 'multipart/related; type="application/dicom"');
  const type = response.headers.get("Content-Type") || "";
  const body = new Uint8Array(await response.arrayBuffer());
  const part = type.toLowerCase().startsWith("multipart/") ? firstPart(body, type) : body;
  const copy = part.slice().buffer; // dcmjs wants a whole ArrayBuffer of its own
  const dict = DicomMessage.readFile(copy, { ignoreErrors: true, untilTag: null });
  const dataset = DicomMetaDictionary.naturalizeDataset(dict.dict);
  dataset._meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
  return dataset;
}

/** The body of the first part of a multipart/related message. */
export function firstPart(body, contentType) {
  const match = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!match) throw new Error("multipart answer without a boundary");
  const delimiter = new TextEncoder().encode(`--${match[1]}`);
  const start = indexOf(body, delimiter, 0);
  if (start < 0) throw new Error("multipart answer without its boundary");
  const headersEnd = indexOf(body, new Uint8Array([13, 10, 13, 10]), start);
  if (headersEnd < 0) throw new Error("multipart part without headers");
  const contentStart = headersEnd + 4;
  const next = indexOf(body, new TextEncoder().encode(`\r\n--${match[1]}`), contentStart);
  return body.subarray(contentStart, next < 0 ? body.length : next);
}

function indexOf(haystack, needle, from) {
  const last = haystack.length - needle.length;
  outer: for (let i = from; i <= last; i += 1) {
    for (let j = 0; j < needle.length; j += 1) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
