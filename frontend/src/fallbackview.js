/**
 * The server-rendered renderer for browsers without WebGL: each slice is a PNG from
 * `/api/v1/viewer/frames/{sop}/{frame}` rendered with the window/level asked for and, when the
 * overlay is on, the SEG blended in by the server. Same controls as the WebGL viewer: drag for
 * window/level, wheel for slices, right-drag or shift-drag to zoom, ctrl-drag or middle-drag to pan.
 */

const RELOAD_DELAY_MS = 120;

export class FallbackView {
  /**
   * @param {HTMLElement} element the viewport's container
   * @param {{onSlice: Function, onVOI: Function, onRendered: Function}} events
   * @param {string} framesUrl the rendered-frames endpoint (".../viewer/frames")
   */
  constructor(element, events, framesUrl) {
    this.element = element;
    this.events = events;
    this.framesUrl = framesUrl;
    this.slices = [];
    this.index = 0;
    this.window = null; // null: the server's default (the file's window, else the frame's range)
    this.defaultWindow = null;
    this.dragStart = { windowWidth: 400, windowCenter: 40 };
    this.overlay = { sop: null, visible: true, opacity: 0.5 };
    this.zoom = 1;
    this.pan = [0, 0];
    this.image = document.createElement("img");
    this.image.className = "hub-fallback-image";
    this.image.alt = "rendered slice";
    this.image.draggable = false;
    element.appendChild(this.image);
    this.image.addEventListener("load", () => this.events.onRendered(this.index));
    this.image.addEventListener("error", () => this.events.onError?.(new Error("a rendered slice failed to load")));
    element.addEventListener("contextmenu", (event) => event.preventDefault());
    element.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.setSlice(this.index + Math.sign(event.deltaY));
    }, { passive: false });
    element.addEventListener("pointerdown", (event) => this.drag(event));
  }

  drag(event) {
    const mode =
      event.button === 2 || event.shiftKey ? "zoom" : event.button === 1 || event.ctrlKey ? "pan" : "voi";
    const start = {
      x: event.clientX,
      y: event.clientY,
      window: { ...(this.window || this.dragStart) },
      zoom: this.zoom,
      pan: [...this.pan],
    };
    this.element.setPointerCapture(event.pointerId);
    const move = (e) => {
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (mode === "voi") {
        this.window = {
          windowWidth: Math.max(1, start.window.windowWidth + dx * 4),
          windowCenter: start.window.windowCenter + dy * 2,
        };
        this.events.onVOI({ ...this.window });
        this.scheduleReload();
      } else if (mode === "zoom") {
        this.zoom = Math.min(20, Math.max(0.1, start.zoom * Math.exp(-dy / 200)));
        this.applyTransform();
      } else {
        this.pan = [start.pan[0] + dx, start.pan[1] + dy];
        this.applyTransform();
      }
    };
    const up = () => {
      this.element.removeEventListener("pointermove", move);
      this.element.removeEventListener("pointerup", up);
      this.element.removeEventListener("pointercancel", up);
    };
    this.element.addEventListener("pointermove", move);
    this.element.addEventListener("pointerup", up);
    this.element.addEventListener("pointercancel", up);
  }

  applyTransform() {
    this.image.style.transform = `translate(${this.pan[0]}px, ${this.pan[1]}px) scale(${this.zoom})`;
  }

  scheduleReload() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), RELOAD_DELAY_MS);
  }

  url() {
    const slice = this.slices[this.index];
    const params = new URLSearchParams();
    if (this.window) {
      params.set("window_width", String(Math.max(1, Math.round(this.window.windowWidth))));
      params.set("window_center", String(Math.round(this.window.windowCenter)));
    }
    if (this.overlay.sop && this.overlay.visible) {
      params.set("overlay", this.overlay.sop);
      params.set("opacity", String(this.overlay.opacity));
    }
    return `${this.framesUrl}/${slice.sop}/${slice.frame}?${params}`;
  }

  load() {
    if (!this.slices.length) return;
    this.image.src = this.url();
  }

  async setStack(slices, _context, index) {
    this.slices = slices;
    this.index = index;
    const raw = slices[index] && slices[index].raw;
    const value = (tag) => (raw && raw[tag] && raw[tag].Value ? Number(raw[tag].Value[0]) : NaN);
    const [width, center] = [value("00281051"), value("00281050")];
    const modality = raw && raw["00080060"] && raw["00080060"].Value ? raw["00080060"].Value[0] : "";
    this.window = Number.isFinite(width) && Number.isFinite(center) ? { windowWidth: width, windowCenter: center } : null;
    this.defaultWindow = this.window && { ...this.window };
    this.dragStart = this.window || (modality === "CT" ? { windowWidth: 400, windowCenter: 40 } : { windowWidth: 1000, windowCenter: 500 });
    if (this.window) this.events.onVOI({ ...this.window });
    this.load();
  }

  async setSegmentation(seg, { visible, opacity }) {
    this.overlay = { sop: seg.sop, visible, opacity };
    this.load();
  }

  removeSegmentation() {
    this.overlay.sop = null;
  }

  setOverlayVisible(visible) {
    this.overlay.visible = visible;
    this.load();
  }

  setOverlayOpacity(opacity) {
    this.overlay.opacity = opacity;
    this.scheduleReload();
  }

  async setSlice(index) {
    const clamped = Math.max(0, Math.min(this.slices.length - 1, index));
    if (clamped === this.index) return;
    this.index = clamped;
    this.events.onSlice(clamped);
    this.load();
  }

  currentSlice() {
    return this.index;
  }

  voi() {
    return this.window && { ...this.window };
  }

  setVOI(windowWidth, windowCenter) {
    this.window = { windowWidth, windowCenter };
    this.events.onVOI({ ...this.window });
    this.load();
  }

  zoomBy(factor) {
    this.zoom = Math.min(20, Math.max(0.1, this.zoom * factor));
    this.applyTransform();
  }

  reset() {
    this.zoom = 1;
    this.pan = [0, 0];
    this.applyTransform();
    if (this.defaultWindow) this.setVOI(this.defaultWindow.windowWidth, this.defaultWindow.windowCenter);
    else {
      this.window = null;
      this.load();
    }
  }

  destroy() {
    this.image.remove();
  }
}
