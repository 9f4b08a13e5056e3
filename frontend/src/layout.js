/**
 * The viewer's DOM: series list (left), toolbar, viewport and slice bar (centre), legend and
 * findings (right). Every control is a real button/input with a label, reachable by Tab.
 */
import { PRESETS } from "./presets.js";
import { toHex } from "./colors.js";

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

/** Build the layout inside `root`; returns the elements the controller talks to. */
export function buildLayout(root, { reportUrl }) {
  const presets = Object.entries(PRESETS).map(([name, preset]) =>
    el("button", {
      type: "button",
      class: "hv-preset",
      "data-preset": name,
      title: `${preset.label}: W ${preset.windowWidth} L ${preset.windowCenter} (key ${preset.key})`,
      text: preset.label,
    }),
  );
  const overlayToggle = el("input", { type: "checkbox", id: "hv-overlay", class: "hv-overlay-toggle", checked: true });
  const opacity = el("input", {
    type: "range",
    id: "hv-opacity",
    class: "hv-opacity",
    min: "0",
    max: "1",
    step: "0.05",
    value: "0.5",
  });
  const slider = el("input", {
    type: "range",
    id: "hv-slider",
    class: "hv-slider",
    min: "0",
    max: "0",
    step: "1",
    value: "0",
    "aria-label": "Slice",
  });
  const viewport = el("div", {
    class: "hv-viewport",
    tabindex: "0",
    role: "img",
    "aria-label": "Image. Arrow keys or the wheel change the slice, drag changes window/level",
  });
  const parts = {
    series: el("ul", { class: "hv-series", "aria-label": "Series" }),
    presets,
    reset: el("button", { type: "button", class: "hv-reset", title: "Reset zoom, pan and window (R)", text: "Reset" }),
    zoomIn: el("button", { type: "button", class: "hv-zoom-in", title: "Zoom in (+)", "aria-label": "Zoom in", text: "+" }),
    zoomOut: el("button", { type: "button", class: "hv-zoom-out", title: "Zoom out (-)", "aria-label": "Zoom out", text: "−" }),
    overlayToggle,
    opacity,
    viewport,
    slider,
    sliceLabel: el("span", { class: "hv-slice-label", "aria-live": "polite", text: "–" }),
    windowLabel: el("span", { class: "hv-window-label", text: "" }),
    modeLabel: el("span", { class: "hv-mode-label", text: "" }),
    segSelect: el("select", { class: "hv-seg-select", "aria-label": "Segmentation", hidden: true }),
    legend: el("ul", { class: "hv-legend", "aria-label": "Segments" }),
    findings: el("ul", { class: "hv-findings", "aria-label": "Findings and measurements" }),
    status: el("div", { class: "hv-status", role: "status", "aria-live": "polite", text: "Loading study…" }),
  };
  const toolbar = el("div", { class: "hv-toolbar", role: "toolbar", "aria-label": "Viewer tools" }, [
    el("span", { class: "hv-group", role: "group", "aria-label": "Window presets" }, presets),
    el("span", { class: "hv-group" }, [parts.zoomOut, parts.zoomIn, parts.reset]),
    el("span", { class: "hv-group hv-overlay-group" }, [
      overlayToggle,
      el("label", { for: "hv-overlay", text: "AI overlay" }),
      el("label", { for: "hv-opacity", text: "Opacity" }),
      opacity,
    ]),
  ]);
  const sliceBar = el("div", { class: "hv-slicebar" }, [
    el("label", { for: "hv-slider", class: "hv-sr-only", text: "Slice" }),
    slider,
    parts.sliceLabel,
    parts.windowLabel,
    parts.modeLabel,
  ]);
  const reportLink = reportUrl
    ? el("a", { class: "hv-report-link", href: reportUrl, text: "Open the report" })
    : el("span");
  const layout = el("div", { class: "hv" }, [
    el("aside", { class: "hv-left", "aria-label": "Series" }, [el("h2", { text: "Series" }), parts.series]),
    el("section", { class: "hv-main", "aria-label": "Image" }, [toolbar, viewport, sliceBar]),
    el("aside", { class: "hv-right", "aria-label": "AI results" }, [
      el("h2", { text: "Segmentation" }),
      parts.segSelect,
      parts.legend,
      el("h2", { text: "Findings" }),
      parts.findings,
      reportLink,
      el("p", { class: "hv-disclaimer", text: "AI-generated, not a diagnosis." }),
    ]),
    parts.status,
  ]);
  root.replaceChildren(layout);
  return parts;
}

/** Fill the series list; `onSelect(uid)` when one is chosen. */
export function renderSeries(list, series, current, onSelect) {
  list.replaceChildren(
    ...series.map((s) => {
      const button = el("button", {
        type: "button",
        class: "hv-series-item",
        "data-series": s.uid,
        "aria-pressed": s.uid === current ? "true" : "false",
      }, [
        el("span", { class: "hv-series-modality", text: s.modality }),
        el("span", { class: "hv-series-description", text: s.description || `Series ${s.number}` }),
        el("span", { class: "hv-series-count", text: `${s.count} images` }),
      ]);
      button.addEventListener("click", () => onSelect(s.uid));
      return el("li", {}, [button]);
    }),
  );
}

/** Fill the legend with the segments of the shown SEG (colour swatch, label, slices). */
export function renderLegend(list, seg, onJump) {
  if (!seg) {
    list.replaceChildren(el("li", { class: "hv-empty", text: "No AI segmentation for this series." }));
    return;
  }
  list.replaceChildren(
    ...seg.segments.map((segment) => {
      const where = segment.slices.length
        ? `slices ${segment.slices[0] + 1}–${segment.slices[segment.slices.length - 1] + 1}`
        : "not found";
      const button = el("button", {
        type: "button",
        class: "hv-legend-item",
        "data-segment": segment.number,
        "data-color": toHex(segment.color),
        disabled: segment.bestSlice < 0,
        title: segment.bestSlice < 0 ? "empty" : `Show slice ${segment.bestSlice + 1}`,
      }, [
        el("span", { class: "hv-swatch", style: `background:${toHex(segment.color)}`, "aria-hidden": "true" }),
        el("span", { class: "hv-legend-label", text: segment.label }),
        el("span", { class: "hv-legend-where", text: where }),
      ]);
      button.addEventListener("click", () => onJump(segment.bestSlice));
      return el("li", {}, [button]);
    }),
  );
}

function formatNumber(value) {
  if (!Number.isFinite(value)) return "–";
  const digits = Math.abs(value) >= 100 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

/** Fill the findings list; each finding with a slice is a button that jumps there. */
export function renderFindings(list, findings, onJump) {
  if (!findings.length) {
    list.replaceChildren(el("li", { class: "hv-empty", text: "No AI findings for this series." }));
    return;
  }
  list.replaceChildren(
    ...findings.map((finding, index) => {
      const lines = [
        ...finding.measurements.map((m) =>
          el("span", { class: "hv-measurement" }, [
            el("span", { class: "hv-measurement-name", text: `${m.name}: ` }),
            el("span", { class: "hv-measurement-value", text: `${formatNumber(m.value)}${m.unit ? ` ${m.unit}` : ""}` }),
          ]),
        ),
        ...finding.evaluations.map((e) => el("span", { class: "hv-evaluation", text: `${e.name}: ${e.value}` })),
      ];
      const swatch = finding.color
        ? [el("span", { class: "hv-swatch", style: `background:${toHex(finding.color)}`, "aria-hidden": "true" })]
        : [];
      const title = el("span", { class: "hv-finding-title" }, [...swatch, finding.title]);
      const model = finding.model ? [el("span", { class: "hv-finding-model", text: finding.model })] : [];
      const content = [title, ...lines, ...model];
      const node =
        finding.slice >= 0
          ? el("button", {
              type: "button",
              class: "hv-finding",
              "data-finding": index,
              "data-slice": finding.slice,
              title: `Show slice ${finding.slice + 1}`,
            }, content)
          : el("div", { class: "hv-finding", "data-finding": index }, content);
      if (finding.slice >= 0) node.addEventListener("click", () => onJump(finding.slice));
      return el("li", {}, [node]);
    }),
  );
}

/** Fill the SEG chooser (shown only when a series has several SEGs). */
export function renderSegChoices(select, segs, current, onChoose) {
  select.hidden = segs.length < 2;
  select.replaceChildren(
    ...segs.map((seg) => el("option", { value: seg.sop, selected: seg.sop === current, text: seg.label })),
  );
  select.onchange = () => onChoose(select.value);
}
