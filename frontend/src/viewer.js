/**
 * The viewer controller: loads a study through DICOMweb, shows one image series in the WebGL
 * (Cornerstone3D) or server-rendered renderer, overlays its AI SEG and lists its SR findings.
 */
import { asArray, first, retrieveInstance, searchSeries, seriesMetadata } from "./dicomweb.js";
import { buildStack, imageSeries } from "./stack.js";
import { referencedSeries, segOnStack } from "./seg.js";
import { evidenceSeries, parseReport } from "./sr.js";
import { PRESETS } from "./presets.js";
import { FallbackView } from "./fallbackview.js";
import { buildLayout, renderFindings, renderLegend, renderSegChoices, renderSeries } from "./layout.js";
import { createState } from "./state.js";

/** Read the page's configuration from the root element and the query string. */
export function readConfig(root) {
  const params = new URLSearchParams(window.location.search);
  const data = root.dataset;
  return {
    study: data.study || params.get("study") || "",
    series: params.get("series") || data.series || "",
    dicomweb: new URL(data.dicomweb || "/dicomweb", window.location.href).href.replace(/\/$/, ""),
    frames: data.frames || "/api/v1/viewer/frames",
    reportUrl: data.reportUrl || "",
    fallback: params.get("fallback") === "1" || data.fallback === "1",
  };
}

export class Viewer {
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.ui = buildLayout(root, config);
    const { state, update } = createState(root, { study: config.study });
    this.state = state;
    this.update = update;
    this.results = new Map(); // series UID -> {segs, reports}
    this.slices = [];
    this.view = null;
    this.exposeActions();
    this.bindControls();
  }

  exposeActions() {
    Object.assign(this.state, {
      setSlice: (index) => this.setSlice(index),
      setPreset: (name) => this.setPreset(name),
      setVOI: (width, center) => this.view.setVOI(width, center),
      toggleOverlay: (visible) => this.setOverlayVisible(visible ?? !this.state.overlayVisible),
      setOpacity: (value) => this.setOpacity(value),
      jumpToFinding: (index) => this.setSlice(this.state.findings[index].slice),
      selectSeries: (uid) => this.selectSeries(uid),
    });
  }

  setStatus(text, kind = "info") {
    this.ui.status.textContent = text;
    this.ui.status.dataset.kind = kind;
    this.ui.status.hidden = !text;
  }

  async createView(mode) {
    const events = {
      onSlice: (index) => this.onSlice(index),
      onVOI: (voi) => this.onVOI(voi),
      onRendered: (index) => this.update({ renderedSlice: index, renders: this.state.renders + 1 }),
      onError: (error) => this.setStatus(error.message, "error"),
    };
    if (mode === "webgl") {
      // Loaded on demand: the fallback never downloads Cornerstone3D.
      const { CornerstoneView } = await import("./csview.js");
      return new CornerstoneView(this.ui.viewport, events);
    }
    return new FallbackView(this.ui.viewport, events, this.config.frames);
  }

  async chooseView() {
    let reason = this.config.fallback ? "asked for (?fallback=1)" : "";
    if (!reason) {
      const { hasWebGL } = await import("./csview.js");
      if (!hasWebGL()) reason = "this browser has no WebGL";
    }
    if (!reason) {
      try {
        this.view = await this.createView("webgl");
        this.update({ mode: "webgl" });
        return;
      } catch (error) {
        reason = `WebGL viewer failed to start: ${error.message}`;
        console.warn(`hub viewer: ${reason}; using server-rendered images`);
      }
    }
    this.view = await this.createView("fallback");
    this.update({ mode: "fallback", fallbackReason: reason });
    this.ui.modeLabel.textContent = "server-rendered images";
    this.ui.modeLabel.title = reason;
  }

  async start() {
    try {
      if (!this.config.study) throw new Error("no study given");
      await this.chooseView();
      const all = await searchSeries(this.config.dicomweb, this.config.study);
      this.allSeries = all;
      const images = imageSeries(all).map((s) => ({
        uid: s.SeriesInstanceUID,
        modality: first(s.Modality, ""),
        description: first(s.SeriesDescription, ""),
        number: first(s.SeriesNumber, ""),
        count: Number(first(s.NumberOfSeriesRelatedInstances, 0)),
      }));
      if (!images.length) throw new Error("this study has no image series");
      this.update({ seriesList: images });
      const wanted = images.find((s) => s.uid === this.config.series) || images[0];
      await this.selectSeries(wanted.uid);
    } catch (error) {
      console.error("hub viewer:", error);
      this.setStatus(`The study could not be shown: ${error.message}`, "error");
      this.update({ state: "error", error: error.message, ready: false });
    }
  }

  async selectSeries(uid) {
    this.update({ ready: false, state: "loading", series: uid, seg: null, segments: [], findings: [], overlayAvailable: false });
    renderSeries(this.ui.series, this.state.seriesList, uid, (next) => this.selectSeries(next));
    this.setStatus("Loading images…");
    const { raw, natural } = await seriesMetadata(this.config.dicomweb, this.config.study, uid);
    this.slices = buildStack(natural, raw);
    if (!this.slices.length) throw new Error("the series has no images");
    const start = Math.floor(this.slices.length / 2);
    this.ui.slider.max = String(this.slices.length - 1);
    this.update({ sliceCount: this.slices.length });
    const rendered = this.waitForRender();
    await this.view.setStack(this.slices, { study: this.config.study, series: uid, dicomweb: this.config.dicomweb }, start);
    this.onSlice(start);
    this.onVOI(this.view.voi());
    this.setStatus("Loading AI results…");
    const results = await this.loadResults(uid);
    renderSegChoices(this.ui.segSelect, results.segs, results.segs[0]?.sop, (sop) =>
      this.showSeg(results.segs.find((s) => s.sop === sop)),
    );
    await this.showSeg(results.segs[0] || null);
    await rendered;
    const problems = results.problems.length ? `Some AI results could not be read: ${results.problems.join("; ")}` : "";
    this.setStatus(problems, problems ? "warning" : "info");
    this.update({ ready: true, state: "ready", warnings: results.problems });
  }

  waitForRender() {
    const before = this.state.renders;
    return new Promise((resolve) => {
      const check = () => (this.state.renders > before ? resolve() : setTimeout(check, 50));
      check();
    });
  }

  /** The SEGs and SRs of the study that refer to series `uid` (read once, then cached). */
  async loadResults(uid) {
    if (this.results.has(uid)) return this.results.get(uid);
    const { dicomweb, study } = this.config;
    const segs = [];
    const reports = [];
    const problems = [];
    for (const series of this.allSeries) {
      const modality = first(series.Modality, "");
      if (modality !== "SEG" && modality !== "SR") continue;
      const seriesUID = series.SeriesInstanceUID;
      try {
        const { natural } = await seriesMetadata(dicomweb, study, seriesUID);
        for (const instance of natural) {
          if (modality === "SR") {
            if (evidenceSeries(instance).includes(uid) || !asArray(instance.CurrentRequestedProcedureEvidenceSequence).length) {
              reports.push(parseReport(instance));
            }
            continue;
          }
          if (referencedSeries(instance) && referencedSeries(instance) !== uid) continue;
          const ds = await retrieveInstance(dicomweb, study, seriesUID, instance.SOPInstanceUID);
          const seg = segOnStack(ds, this.slices);
          if (seg.placed) segs.push(seg);
        }
      } catch (error) {
        console.warn(`hub viewer: ${modality} series could not be read:`, error);
        problems.push(`${modality} ${first(series.SeriesDescription, "")}: ${error.message}`);
      }
    }
    const results = { segs, reports, problems };
    this.results.set(uid, results);
    return results;
  }

  /** The findings list: one entry per SR measurement group, with the slice to jump to. */
  findingsFor(reports, segs) {
    const findings = [];
    for (const report of reports) {
      for (const group of report.groups) {
        let slice = -1;
        let color = null;
        if (group.segment) {
          const seg = segs.find((s) => s.sop === group.segment.sop) || segs[0];
          const segment = seg && seg.segments.find((s) => s.number === group.segment.number);
          if (segment) {
            slice = segment.bestSlice;
            color = segment.color;
          }
        } else if (group.images.length === 1) {
          const ref = group.images[0];
          slice = this.slices.findIndex((s) => s.sop === ref.sop && (!ref.frames.length || ref.frames.includes(s.frame)));
        }
        const model = [group.algorithm.name, group.algorithm.version].filter(Boolean).join(" ");
        findings.push({
          title: group.trackingId || group.finding || "Finding",
          finding: group.finding,
          site: group.site,
          measurements: group.measurements,
          evaluations: group.evaluations,
          model,
          slice,
          color,
          report: report.sop,
        });
      }
    }
    return findings;
  }

  async showSeg(seg) {
    const results = this.results.get(this.state.series);
    const findings = this.findingsFor(results.reports, seg ? [seg, ...results.segs] : results.segs);
    if (seg) {
      await this.view.setSegmentation(seg, { visible: this.state.overlayVisible, opacity: this.state.overlayOpacity });
    } else {
      this.view.removeSegmentation();
    }
    this.update({
      seg: seg ? { sop: seg.sop, label: seg.label } : null,
      overlayAvailable: Boolean(seg),
      segments: seg ? seg.segments.map(({ number, label, color, bestSlice, slices, voxels }) => ({ number, label, color, bestSlice, slices, voxels })) : [],
      findings,
    });
    this.ui.overlayToggle.disabled = !seg;
    this.ui.opacity.disabled = !seg;
    renderLegend(this.ui.legend, seg, (slice) => this.setSlice(slice));
    renderFindings(this.ui.findings, findings, (slice) => this.setSlice(slice));
  }

  onSlice(index) {
    this.ui.slider.value = String(index);
    this.ui.sliceLabel.textContent = `${index + 1} / ${this.slices.length}`;
    this.update({ sliceIndex: index });
  }

  onVOI(voi) {
    if (!voi) return;
    this.ui.windowLabel.textContent = `W ${Math.round(voi.windowWidth)} L ${Math.round(voi.windowCenter)}`;
    this.update({ voi });
  }

  async setSlice(index) {
    if (!this.slices.length || index < 0) return;
    const clamped = Math.max(0, Math.min(this.slices.length - 1, index));
    await this.view.setSlice(clamped);
    this.onSlice(clamped);
  }

  setPreset(name) {
    const preset = PRESETS[name];
    if (!preset) return;
    this.view.setVOI(preset.windowWidth, preset.windowCenter);
    for (const button of this.ui.presets) button.setAttribute("aria-pressed", String(button.dataset.preset === name));
  }

  setOverlayVisible(visible) {
    this.ui.overlayToggle.checked = visible;
    this.update({ overlayVisible: visible });
    this.view.setOverlayVisible(visible);
  }

  setOpacity(value) {
    const opacity = Math.max(0, Math.min(1, Number(value)));
    this.ui.opacity.value = String(opacity);
    this.update({ overlayOpacity: opacity });
    this.view.setOverlayOpacity(opacity);
  }

  bindControls() {
    const ui = this.ui;
    for (const button of ui.presets) button.addEventListener("click", () => this.setPreset(button.dataset.preset));
    ui.reset.addEventListener("click", () => this.view.reset());
    ui.zoomIn.addEventListener("click", () => this.view.zoomBy(1.25));
    ui.zoomOut.addEventListener("click", () => this.view.zoomBy(0.8));
    ui.overlayToggle.addEventListener("change", () => this.setOverlayVisible(ui.overlayToggle.checked));
    ui.opacity.addEventListener("input", () => this.setOpacity(ui.opacity.value));
    ui.slider.addEventListener("input", () => this.setSlice(Number(ui.slider.value)));
    ui.viewport.addEventListener("pointerdown", () => ui.viewport.focus());
    this.root.addEventListener("keydown", (event) => this.onKey(event));
  }

  onKey(event) {
    const target = event.target;
    if (target instanceof HTMLInputElement && target.type !== "checkbox") return;
    if (target instanceof HTMLSelectElement || event.ctrlKey || event.metaKey || event.altKey) return;
    const index = this.state.sliceIndex;
    const steps = {
      ArrowUp: -1,
      ArrowLeft: -1,
      ArrowDown: 1,
      ArrowRight: 1,
      PageUp: -10,
      PageDown: 10,
    };
    let handled = true;
    if (event.key in steps) this.setSlice(index + steps[event.key]);
    else if (event.key === "Home") this.setSlice(0);
    else if (event.key === "End") this.setSlice(this.slices.length - 1);
    else if (event.key === "o" || event.key === "O") this.setOverlayVisible(!this.state.overlayVisible);
    else if (event.key === "+" || event.key === "=") this.view.zoomBy(1.25);
    else if (event.key === "-") this.view.zoomBy(0.8);
    else if (event.key === "r" || event.key === "R") this.view.reset();
    else {
      const preset = Object.entries(PRESETS).find(([, p]) => p.key === event.key);
      if (preset) this.setPreset(preset[0]);
      else handled = false;
    }
    if (handled) event.preventDefault();
  }
}
