/**
 * The WebGL renderer: a Cornerstone3D stack viewport with window/level, pan, zoom and wheel
 * scrolling tools, and the SEG as a Cornerstone3D labelmap segmentation (one colour per
 * segment from the SEG, fill opacity and visibility under the viewer's control).
 */
import {
  Enums,
  RenderingEngine,
  imageLoader,
  init as coreInit,
} from "@cornerstonejs/core";
import {
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
  segmentation,
} from "@cornerstonejs/tools";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";
import { fromRange, toRange } from "./presets.js";

const ENGINE_ID = "hub-engine";
const VIEWPORT_ID = "hub-stack";
const TOOL_GROUP_ID = "hub-tools";
const LABELMAP = ToolEnums.SegmentationRepresentations.Labelmap;
const { MouseBindings, KeyboardBindings } = ToolEnums;

let initialised = false;

function initialise() {
  if (initialised) return;
  coreInit();
  dicomImageLoader.init({ maxWebWorkers: Math.min(2, navigator.hardwareConcurrency || 1) });
  toolsInit();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) addTool(tool);
  initialised = true;
}

/** Whether this browser gives a WebGL context (Cornerstone3D needs one). */
export function hasWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

export class CornerstoneView {
  /**
   * @param {HTMLElement} element the viewport's container (sized by CSS)
   * @param {{onSlice: Function, onVOI: Function, onRendered: Function}} events
   */
  constructor(element, events) {
    initialise();
    this.element = element;
    this.events = events;
    this.engine = new RenderingEngine(ENGINE_ID);
    this.engine.enableElement({
      viewportId: VIEWPORT_ID,
      type: Enums.ViewportType.STACK,
      element,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(VIEWPORT_ID);
    this.tools = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) {
      this.tools.addTool(tool.toolName);
    }
    this.tools.setToolActive(WindowLevelTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Primary }],
    });
    this.tools.setToolActive(PanTool.toolName, {
      bindings: [
        { mouseButton: MouseBindings.Auxiliary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Ctrl },
      ],
    });
    this.tools.setToolActive(ZoomTool.toolName, {
      bindings: [
        { mouseButton: MouseBindings.Secondary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift },
      ],
    });
    this.tools.setToolActive(StackScrollTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Wheel }],
    });
    this.tools.addViewport(VIEWPORT_ID, ENGINE_ID);
    element.tabIndex = 0; // Cornerstone sets -1: the image stays reachable by Tab
    element.addEventListener("contextmenu", (event) => event.preventDefault());
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, (event) => {
      this.events.onSlice(event.detail.imageIdIndex);
    });
    element.addEventListener(Enums.Events.VOI_MODIFIED, (event) => {
      if (event.detail.range) this.events.onVOI(fromRange(event.detail.range));
    });
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      this.events.onRendered(this.viewport.getCurrentImageIdIndex());
    });
    this.resizeObserver = new ResizeObserver(() => this.engine.resize(true, true));
    this.resizeObserver.observe(element);
    this.segmentationId = null;
  }

  /** Show a stack: `slices` from `buildStack`, `dicomweb` the absolute DICOMweb root. */
  async setStack(slices, { study, series, dicomweb }, index) {
    const metadataManager = dicomImageLoader.wadors.metaDataManager;
    this.imageIds = slices.map((slice) => {
      const id =
        `wadors:${dicomweb}/studies/${study}/series/${series}` +
        `/instances/${slice.sop}/frames/${slice.frame}`;
      metadataManager.add(id, slice.raw);
      return id;
    });
    this.removeSegmentation();
    await this.viewport.setStack(this.imageIds, index);
    this.viewport.render();
  }

  /** Show the decoded SEG (`segOnStack`) as a labelmap over the current stack. */
  async setSegmentation(seg, { visible, opacity }) {
    this.removeSegmentation();
    const images = imageLoader.createAndCacheDerivedLabelmapImages(this.imageIds);
    images.forEach((image, index) => {
      const labels = seg.labels[index];
      if (!labels) return;
      const data = image.voxelManager.getScalarData();
      if (data.length === labels.length) data.set(labels);
    });
    const segmentationId = `hub-seg-${seg.sop}`;
    const segments = {};
    for (const segment of seg.segments) {
      segments[segment.number] = { segmentIndex: segment.number, label: segment.label };
    }
    segmentation.addSegmentations([
      {
        segmentationId,
        representation: { type: LABELMAP, data: { imageIds: images.map((image) => image.imageId) } },
        config: { label: seg.label, segments },
      },
    ]);
    const lut = [[0, 0, 0, 0]];
    for (const segment of seg.segments) lut[segment.number] = [...segment.color, 255];
    for (let i = 1; i < lut.length; i += 1) lut[i] = lut[i] || [0, 0, 0, 0];
    await segmentation.addLabelmapRepresentationToViewport(VIEWPORT_ID, [
      { segmentationId, config: { colorLUTOrIndex: lut } },
    ]);
    this.segmentationId = segmentationId;
    this.setOverlayOpacity(opacity);
    this.setOverlayVisible(visible);
  }

  removeSegmentation() {
    if (!this.segmentationId) return;
    segmentation.removeSegmentationRepresentations(VIEWPORT_ID, {
      segmentationId: this.segmentationId,
    });
    segmentation.removeSegmentation(this.segmentationId);
    this.segmentationId = null;
  }

  setOverlayVisible(visible) {
    if (!this.segmentationId) return;
    segmentation.config.visibility.setSegmentationRepresentationVisibility(
      VIEWPORT_ID,
      { segmentationId: this.segmentationId, type: LABELMAP },
      visible,
    );
    this.viewport.render();
  }

  setOverlayOpacity(opacity) {
    if (!this.segmentationId) return;
    segmentation.config.style.setStyle(
      { type: LABELMAP, viewportId: VIEWPORT_ID, segmentationId: this.segmentationId },
      { fillAlpha: opacity, fillAlphaInactive: opacity, renderOutline: true, outlineOpacity: Math.min(1, opacity + 0.3) },
    );
    this.viewport.render();
  }

  async setSlice(index) {
    await this.viewport.setImageIdIndex(index);
  }

  currentSlice() {
    return this.viewport.getCurrentImageIdIndex();
  }

  /** The window (width, centre) in use. */
  voi() {
    const range = this.viewport.getProperties().voiRange;
    return range ? fromRange(range) : null;
  }

  setVOI(windowWidth, windowCenter) {
    this.viewport.setProperties({ voiRange: toRange(windowWidth, windowCenter) });
    this.viewport.render();
    this.events.onVOI({ windowWidth, windowCenter });
  }

  zoomBy(factor) {
    const camera = this.viewport.getCamera();
    this.viewport.setCamera({ parallelScale: camera.parallelScale / factor });
    this.viewport.render();
  }

  reset() {
    this.viewport.resetCamera();
    this.viewport.resetProperties();
    this.viewport.render();
    const voi = this.voi();
    if (voi) this.events.onVOI(voi);
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.removeSegmentation();
    ToolGroupManager.destroyToolGroup(TOOL_GROUP_ID);
    this.engine.destroy();
  }
}
