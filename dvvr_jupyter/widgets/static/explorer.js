// explorer.js: the explorer's layout, its state and what clicks do.
// The kernel pushes state on the comm ("state", "featvis", "notice"); clicks
// and images go through the transport (HTTP while a cell runs).

import {
  colourLut, decodeGrayPng, grayFiller, histogramSvg, paintAtlas, rgbFiller, tileAt, tileLayout,
} from "./colormap.js";
import { layerMap, layerSignature } from "./layermap.js";
import { connectionPanel, el, inputPanel, moduleTree, topClasses, vectorBars } from "./panels.js";
import { makeTransport, parseEnvelope } from "./transport.js";

const GRID_WIDTH = 620; // px the channel grid may take
const MAX_TILE = 64; // px a channel is shown at most (bigger maps are scaled down)

function render({ model, el: host }) {
  const S = {
    state: model.get("initial"),
    layer: null,
    page: 0,
    fvPage: 0,
    gridSeq: 0,
    transport: null,
    trackChoice: null, // a preset's name (tree.preset_labels) or "list"
    tree: null,
    timers: [],
    closed: false,
    inputImage: el("img", { class: "dvvr-input-image", alt: "current input" }),
    inputImageOf: null,
    featvisPushes: 0, // feature-visualization pushes so far (an answer older than a push is stale)
  };
  const root = el("div", { class: "dvvr-explorer", "data-ready": "0" });
  host.appendChild(root);
  const status = el("div", { class: "dvvr-message" });
  const header = el("div", { class: "dvvr-header" });
  const inputBox = el("div", { class: "dvvr-section" });
  const mapBox = el("div", { class: "dvvr-map" });
  const layerTitle = el("div", { class: "dvvr-layer-title" });
  const hists = el("div", { class: "dvvr-hists" });
  const pager = el("div", { class: "dvvr-pager" });
  const grid = el("div", { class: "dvvr-grid" });
  const topBox = el("div", { class: "dvvr-section" });
  const featvis = el("div", { class: "dvvr-featvis" });
  const modules = el("details", { class: "dvvr-modules" }, el("summary", { text: "Tracked modules" }));
  const connection = el("details", { class: "dvvr-connection", open: true }, el("summary", { text: "Connection" }));
  root.append(
    header,
    el("div", { class: "dvvr-columns" },
      el("div", { class: "dvvr-left" }, el("h4", { text: "Input" }), inputBox, el("h4", { text: "Layers" }), mapBox),
      el("div", { class: "dvvr-right" }, el("h4", { text: "Classification (top 10)" }), topBox, layerTitle, hists,
        pager, grid, featvis)),
    modules, connection, status);

  const say = (text, kind) => {
    status.textContent = text || "";
    status.className = "dvvr-message" + (kind ? " dvvr-" + kind : "");
  };
  const network = () => S.state.network;
  const layerOf = (id) => S.state.layers.find((l) => l.id === id);

  async function call(method, path, body) {
    const answer = await S.transport.request(method, path, body);
    if (!answer.ok) throw new Error(answer.error());
    return answer;
  }
  const thumbUrls = new Map();
  function thumbUrl(path) {
    if (!thumbUrls.has(path)) {
      thumbUrls.set(path, call("GET", path).then((a) => URL.createObjectURL(new Blob([a.data], { type: "image/png" }))));
    }
    return thumbUrls.get(path);
  }

  // --- state --------------------------------------------------------------------
  function defaultLayer() {
    const maps = S.state.layers.filter((l) => l.kind !== "info");
    return (maps.find((l) => l.id > 0) || maps[0] || { id: null }).id;
  }

  function applyState(state, why) {
    const layersChanged = !S.state || layerSignature(S.state.layers) !== layerSignature(state.layers);
    const resultChanged = !S.state || S.state.result.id !== state.result.id;
    const previous = S.state;
    S.state = state;
    if (layersChanged || !layerOf(S.layer)) {
      // keep showing the same module after a re-track (ids move), else a default
      const before = previous && previous.layers.find((l) => l.id === S.layer);
      const shown = state.layers.filter((l) => l.kind !== "info");
      const same = before && (shown.find((l) => l.module === before.module && l.name === before.name) ||
        shown.find((l) => l.module === before.module) ||
        (before.weight_module && shown.find((l) => l.weight_module === before.weight_module)));
      S.layer = same ? same.id : defaultLayer();
      drawMap();
      S.tree = null; // the ticked modules changed
      if (modules.open) loadModules();
    }
    drawHeader();
    const shown = JSON.stringify([state.input, state.dataset]);
    if (shown !== S.inputShown) drawInput(); // thumbnails are redrawn only when the input changed
    topBox.replaceChildren(topClasses(state));
    drawFeatvis();
    if (resultChanged || layersChanged) drawGrid();
    if (why) say(why);
  }

  function drawHeader() {
    const st = S.state;
    // the picture of the current input, fetched once per result (pushes redraw the header often)
    if (S.inputImageOf !== st.result.id && S.transport) {
      S.inputImageOf = st.result.id;
      call("GET", `network/${network()}/input.png`).then((a) => {
        if (S.inputImage.src) URL.revokeObjectURL(S.inputImage.src);
        S.inputImage.src = URL.createObjectURL(new Blob([a.data], { type: "image/png" }));
      }).catch(() => (S.inputImageOf = null));
    }
    const img = S.inputImage;
    const names = st.networks.length > 1 ? el("select", {
      class: "dvvr-network", onchange: (e) => switchNetwork(Number(e.target.value)),
    }, ...st.networks.map((n) => el("option", { value: n.id, text: `${n.id}: ${n.name}`, selected: n.id === st.network }))) : null;
    header.replaceChildren(img, el("div", {},
      el("div", { class: "dvvr-title", text: st.name }), names,
      el("div", { class: "dvvr-input-desc", text: st.input.describe }),
      el("div", { class: "dvvr-muted", text: `${st.layers.length} layers · weights v${st.result.weights} · ` +
        (S.transport ? (S.transport.kind === "http" ? "live while cells run" : "via the widget comm: waits for running cells") : "connecting…") })));
  }

  function drawInput() {
    S.inputShown = JSON.stringify([S.state.input, S.state.dataset]);
    inputBox.replaceChildren(inputPanel(S.state, thumbUrl, {
      dataset: (i) => choose({ kind: "dataset", dataset: S.state.dataset.id, index: i }),
      noise: () => choose({ kind: "noise", generator: 0 }),
      blank: () => choose({ kind: "blank" }),
    }));
  }

  async function choose(body) {
    grid.dataset.clickedAt = String(performance.now());
    say("computing…");
    try {
      const answer = await call("POST", `network/${network()}/input`, body);
      applyState(answer.json(), "");
      say("");
    } catch (err) {
      say(String(err.message || err), "error");
    }
  }

  async function switchNetwork(id) {
    try {
      applyState((await call("GET", `state/${id}`)).json(), "");
      model.set("network_id", id);
      model.save_changes();
    } catch (err) {
      say(String(err.message || err), "error");
    }
  }

  // --- layers -------------------------------------------------------------------
  function drawMap() {
    mapBox.replaceChildren(layerMap(S.state.layers, S.layer, (id) => {
      grid.dataset.clickedAt = String(performance.now());
      S.layer = id;
      S.page = 0;
      S.fvPage = 0;
      drawMap();
      drawGrid();
      drawFeatvis();
    }));
  }

  async function drawGrid() {
    const layer = layerOf(S.layer);
    const seq = ++S.gridSeq;
    if (!layer) {
      grid.replaceChildren();
      return;
    }
    const format = model.get("grid_format") || "raw";
    const count = 256;
    let answer;
    try {
      answer = await call("GET", `network/${network()}/layer/${layer.id}/channels/${S.page * pageSizeOf(layer)}/${count}/${format}`);
    } catch (err) {
      if (seq === S.gridSeq) say(String(err.message || err), "error");
      return;
    }
    if (seq !== S.gridSeq) return; // a newer click asked for another grid
    const { meta, payload } = parseEnvelope(answer.data);
    if (meta.result > S.state.result.id) {
      // the grid is newer than our state (an input chosen elsewhere): catch up
      call("GET", `state/${network()}`).then((a) => applyState(a.json(), "")).catch(() => {});
    }
    S.pageSize = meta.page;
    const [channels, h, w] = meta.shape;
    const pixels = meta.format === "png" ? await decodeGrayPng(payload) : payload;
    if (seq !== S.gridSeq) return;
    const lut = colourLut(meta.zero);
    layerTitle.replaceChildren(
      el("b", { text: `${layer.id}: ${layer.name}` }),
      el("span", { class: "dvvr-muted", text: ` ${layer.kind} ${meta.shape.join("×")} · range ${meta.low.toPrecision(3)} … ${meta.high.toPrecision(3)}, zero at ${meta.zero}` }));
    hists.replaceChildren(histogramSvg(meta.histogram, "activations"), histogramSvg(meta.weight_histogram, "weights"));
    const pages = Math.ceil(channels / meta.page);
    pager.replaceChildren(
      el("button", { class: "dvvr-prev", text: "◀", disabled: S.page === 0, onclick: () => { S.page--; drawGrid(); } }),
      el("span", { class: "dvvr-page-label", text: ` channels ${meta.start}–${meta.start + meta.count - 1} of ${channels} ` }),
      el("button", { class: "dvvr-next", text: "▶", disabled: S.page >= pages - 1, onclick: () => { S.page++; drawGrid(); } }));
    let body;
    if (layer.kind === "vector") {
      body = vectorBars(meta, pixels, lut);
    } else {
      body = el("canvas", { class: "dvvr-grid-canvas" });
      const scale = Math.max(1, Math.round((Math.max(h, w) <= 2 ? 14 : 40) / Math.max(h, w))); // 1x1 maps: small tiles
      const layout = tileLayout(meta.count, h, w, h > MAX_TILE ? (GRID_WIDTH * h) / MAX_TILE : GRID_WIDTH, scale);
      paintAtlas(body, layout, meta.count, h, w, scale, grayFiller(pixels, h, w, lut));
      if (h > MAX_TILE) body.style.width = `${(body.width * MAX_TILE) / h}px`; // big maps: shown smaller
      body.title = "channels on the layer's one scale: blue below zero, white at zero, red above";
    }
    grid.replaceChildren(body);
    grid.dataset.layerId = String(layer.id);
    grid.dataset.resultId = String(meta.result);
    grid.dataset.start = String(meta.start);
    grid.dataset.drawnAt = String(performance.now());
    root.dataset.ready = "1";
  }

  function pageSizeOf(layer) {
    return S.pageSize && grid.dataset.layerId === String(layer.id) ? S.pageSize : 256;
  }

  // --- feature visualization ----------------------------------------------------
  function drawFeatvis() {
    const layer = layerOf(S.layer);
    if (!layer || layer.kind === "info") {
      featvis.replaceChildren();
      return;
    }
    const job = S.state.featvis[String(layer.id)];
    const running = job && (job.state === "queued" || job.state === "running");
    const progress = el("progress", { class: "dvvr-fv-progress", max: job ? Math.max(1, job.total) : 1, value: job ? job.done : 0 });
    const words = job ? `${job.state} ${job.done}/${job.total}` + (job.error ? ` (${job.error})` : "") : "not started";
    featvis.replaceChildren(el("div", { class: "dvvr-fv-head" },
      el("b", { text: "Feature visualization " }),
      el("button", { class: "dvvr-fv-start", text: running ? "running…" : "start", disabled: running, onclick: () => featvisAction("start") }),
      el("button", { class: "dvvr-fv-cancel", text: "cancel", disabled: !running, onclick: () => featvisAction("cancel") }),
      progress, el("span", { class: "dvvr-fv-state", "data-state": job ? job.state : "none", text: " " + words })),
    el("div", { class: "dvvr-fv-images" }));
    const stored = S.state.featvis_stored.includes(layer.id) || (job && job.state === "done");
    if (!running && stored) loadFeatvisImages(layer);
  }

  async function featvisAction(action) {
    const layer = layerOf(S.layer);
    const pushes = S.featvisPushes;
    try {
      const answer = (await call("POST", `network/${network()}/featvis/${layer.id}/${action}`, {})).json();
      // the kernel's pushes are newer than this answer if one came in meanwhile
      if (answer.job && S.featvisPushes === pushes) S.state.featvis[String(layer.id)] = answer.job;
      drawFeatvis();
    } catch (err) {
      say(String(err.message || err), "error");
    }
  }

  async function loadFeatvisImages(layer) {
    const count = 16;
    let answer;
    try {
      answer = await S.transport.request("GET", `network/${network()}/featvis/${layer.id}/channels/${S.fvPage * count}/${count}`);
    } catch (err) {
      return;
    }
    if (!answer.ok || S.layer !== layer.id) return; // 404: none stored yet
    const { meta, payload } = parseEnvelope(answer.data);
    const [channels, h, w] = meta.shape;
    const canvas = el("canvas", { class: "dvvr-fv-canvas" });
    const scale = 1;
    const layout = tileLayout(meta.count, h, w, GRID_WIDTH * 2, scale);
    paintAtlas(canvas, layout, meta.count, h, w, scale, rgbFiller(payload, h, w));
    canvas.style.width = `${canvas.width / 2}px`; // shown at half size
    canvas.title = "click a channel: use its feature visualization as the input";
    canvas.addEventListener("click", (e) => {
      const tile = tileAt(layout, canvas, e);
      if (tile >= 0 && tile < meta.count) choose({ kind: "featvis", layer: layer.id, channel: meta.start + tile });
    });
    const pages = Math.ceil(channels / count);
    const nav = el("div", { class: "dvvr-pager" },
      el("button", { text: "◀", disabled: S.fvPage === 0, onclick: () => { S.fvPage--; loadFeatvisImages(layer); } }),
      el("span", { text: ` channels ${meta.start}–${meta.start + meta.count - 1} of ${channels} (click one: use it as input) ` }),
      el("button", { text: "▶", disabled: S.fvPage >= pages - 1, onclick: () => { S.fvPage++; loadFeatvisImages(layer); } }));
    const holder = featvis.querySelector(".dvvr-fv-images");
    if (holder) holder.replaceChildren(nav, canvas);
  }

  // --- tracked modules ----------------------------------------------------------
  async function loadModules() {
    try {
      S.tree = (await call("GET", `network/${network()}/modules`)).json();
    } catch (err) {
      say(String(err.message || err), "error");
      return;
    }
    S.trackChoice = S.tree.tracking === "auto" || S.tree.tracking === "all" ? S.tree.tracking : "list";
    drawModules();
  }

  function drawModules() {
    const tree = S.tree;
    const presets = el("div", { class: "dvvr-presets" },
      // the presets and their labels come with the tree (explore/module_picker.py PRESETS)
      ...Object.entries(tree.preset_labels).map(([key, label]) =>
        el("button", { "data-preset": key, class: S.trackChoice === key ? "dvvr-current" : "", text: label, onclick: () => {
          S.trackChoice = key;
          S.tree = { ...tree, tracked: tree.presets[key] };
          drawModules();
        } })),
      el("button", { class: "dvvr-apply-track", text: "apply", onclick: applyTracking }));
    const note = el("div", { class: "dvvr-track-note dvvr-muted", text:
      (tree.trackers && tree.tracking === "auto" ? "This model has TrackerModules: automatic tracking shows them. " : "") +
      "Applying re-tracks the network under the same id (on the kernel's main thread, so after a running cell ends); " +
      "the VR client sees the new architecture when it next asks for it." });
    const body = moduleTree(tree, (name, on) => {
      // a module and its ancestors or descendants cannot both be tracked
      const ticked = new Set(tree.tracked.filter((n) => !(n === name || n.startsWith(name + ".") || name.startsWith(n + "."))));
      if (on) ticked.add(name);
      S.trackChoice = "list";
      S.tree = { ...tree, tracked: tree.modules.map((m) => m.name).filter((n) => ticked.has(n)) };
      drawModules();
    });
    modules.replaceChildren(modules.firstChild, presets, note, body);
  }

  async function applyTracking() {
    const choice = S.trackChoice === "list" || S.trackChoice === "blocks" || S.trackChoice === "conv"
      ? S.tree.tracked : S.trackChoice;
    say("re-tracking…");
    try {
      const answer = (await call("POST", `network/${network()}/track`, { track: choice })).json();
      say(answer.message, answer.state === "done" ? "" : "note");
    } catch (err) {
      say(String(err.message || err), "error");
    }
  }

  modules.addEventListener("toggle", () => {
    if (modules.open && !S.tree) loadModules();
  });

  // --- connection ---------------------------------------------------------------
  async function drawConnection() {
    try {
      const info = (await call("GET", "connection")).json();
      connection.replaceChildren(connection.firstChild, connectionPanel(info));
    } catch (err) {
      // shown again at the next look
    }
  }

  // --- kernel pushes ------------------------------------------------------------
  const onPush = (msg) => {
    if (!msg || S.closed) return;
    if (msg.type === "state" && msg.state.network === network()) {
      const why = msg.change === "retracked"
        ? `re-tracked: ${msg.state.layers.length} layers; the VR client sees the new architecture when it next asks for it`
        : msg.origin === "vr" ? "input chosen in the headset" : "";
      applyState(msg.state, why);
      if (msg.origin === "vr") drawConnection();
    } else if (msg.type === "featvis") {
      S.featvisPushes++;
      S.state.featvis[String(msg.layer)] = msg.job;
      if (msg.layer === S.layer) drawFeatvis();
    } else if (msg.type === "notice") {
      say(msg.message, "error");
    }
  };
  model.on("msg:custom", onPush);

  // --- start --------------------------------------------------------------------
  S.layer = defaultLayer();
  drawMap();
  drawHeader();
  topBox.replaceChildren(topClasses(S.state));
  (async () => {
    S.transport = await makeTransport(model);
    root.dataset.transport = S.transport.kind;
    if (S.closed) return;
    // catch up with anything that happened between the display and now
    try {
      applyState((await call("GET", `state/${network()}`)).json(), "");
    } catch (err) {
      say(String(err.message || err), "error");
    }
    drawInput();
    drawHeader();
    drawFeatvis();
    drawGrid();
    drawConnection();
    if (S.transport.kind === "http") S.timers.push(setInterval(drawConnection, 5000));
  })();

  return () => {
    S.closed = true;
    model.off("msg:custom", onPush);
    S.timers.forEach(clearInterval);
    if (S.transport) S.transport.close();
    for (const url of thumbUrls.values()) url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  };
}

export default { render };
