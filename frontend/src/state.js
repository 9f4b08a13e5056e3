/**
 * The viewer's observable state: `window.hubViewer` for scripts and browser tests, mirrored as
 * `data-*` attributes on the viewer's root element so tests can wait on selectors.
 */

const ATTRIBUTES = {
  state: "state",
  mode: "mode",
  sliceIndex: "sliceIndex",
  sliceCount: "sliceCount",
  renderedSlice: "renderedSlice",
  overlayAvailable: "overlayAvailable",
  overlayVisible: "overlayVisible",
  overlayOpacity: "overlayOpacity",
  series: "series",
};

export function createState(root, initial) {
  const state = {
    ready: false,
    state: "loading",
    error: null,
    mode: "",
    fallbackReason: "",
    study: "",
    series: "",
    seriesList: [],
    sliceIndex: 0,
    sliceCount: 0,
    renderedSlice: -1,
    renders: 0,
    voi: null,
    overlayAvailable: false,
    overlayVisible: true,
    overlayOpacity: 0.5,
    seg: null,
    segments: [],
    findings: [],
    warnings: [],
    ...initial,
  };
  const update = (changes) => {
    Object.assign(state, changes);
    for (const [key, attribute] of Object.entries(ATTRIBUTES)) {
      if (key in changes) root.dataset[attribute] = String(state[key]);
    }
    if ("voi" in changes && state.voi) {
      root.dataset.window = String(Math.round(state.voi.windowWidth));
      root.dataset.level = String(Math.round(state.voi.windowCenter));
    }
    if ("ready" in changes) root.dataset.ready = String(state.ready);
  };
  update(state);
  window.hubViewer = state;
  return { state, update };
}
