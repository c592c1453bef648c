// explorer.js: the explorer's layout, its state and what clicks do.
// The kernel pushes state on the comm ("state", "featvis", "notice"); clicks
// and images go through the transport (HTTP while a cell runs).

import {
  colourLegend, colourLut, decodeGrayPng, fmt, grayFiller, histogramSvg, paintAtlas, rgbFiller, tileAt, tileLayout,
  tileSize,
} from "./colormap.js";
import { channelInspector, featvisInspector } from "./inspector.js";
import { layerMap, layerSignature } from "./layermap.js";
import { connectionPanel, el, inputPanel, moduleTree, topClasses, vectorBars } from "./panels.js";
import { makeTransport, parseEnvelope } from "./transport.js";

const GRID_WIDTH = 620; // px the channel grid takes at most (less in a narrow panel: its column's width)
const NOTE_MS = 8000; // a note (not an error) clears itself after this long

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
    fvLoaded: null, // what the feature-visualization pictures shown were loaded for (no reloading loop)
    inspecting: null, // the channel shown enlarged
    connectionInfo: null,
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
  const legend = el("div", { class: "dvvr-legend-box" });
  const hover = el("div", { class: "dvvr-hover dvvr-muted", text: " " });
  const inspector = el("div", { class: "dvvr-inspector-box" });
  const inputNote = el("div", { class: "dvvr-input-note dvvr-note" });
  const topBox = el("div", { class: "dvvr-section" });
  const featvis = el("div", { class: "dvvr-featvis" });
  const modules = el("details", { class: "dvvr-modules" }, el("summary", { text: "Tracked modules" }));
  const connection = el("details", { class: "dvvr-connection", open: true }, el("summary", { text: "Connection" }));
  const right = el("div", { class: "dvvr-right" }, el("h4", { text: "Classification (top 10)" }), topBox, layerTitle,
    legend, hists, inspector, pager, grid, hover, featvis);
  const columns = el("div", { class: "dvvr-columns" },
    el("div", { class: "dvvr-left" }, el("h4", { text: "Input" }), inputBox, inputNote, el("h4", { text: "Layers" }), mapBox),
    right);
  // the 3D view (the browser client the session serves at <VR URL>xr/) as a second tab
  const xrBox = el("div", { class: "dvvr-xr", hidden: true });
  const tabs = el("div", { class: "dvvr-tabs" },
    el("button", { class: "dvvr-tab dvvr-current", "data-tab": "explorer", text: "Channels", onclick: () => showTab("explorer") }),
    el("button", { class: "dvvr-tab", "data-tab": "xr", text: "3D view", onclick: () => showTab("xr") }));
  root.append(header, tabs, columns, xrBox, modules, connection, status);

  function showTab(name) {
    tabs.querySelectorAll(".dvvr-tab").forEach((b) => b.classList.toggle("dvvr-current", b.dataset.tab === name));
    columns.hidden = name !== "explorer";
    xrBox.hidden = name !== "xr";
    if (name === "xr" && !xrBox.firstChild) {
      const info = S.connectionInfo || {};
      const url = info.vr_url || info.direct_url;
      xrBox.replaceChildren(url
        ? el("iframe", { class: "dvvr-xr-frame", src: url + "xr/", title: "3D view of the network", allow: "xr-spatial-tracking; fullscreen" })
        : el("div", { class: "dvvr-muted", text: "no VR URL yet: the 3D view is served with it (%dvvr serve)" }));
    }
  }

  let noteTimer = null;
  const say = (text, kind) => {
    status.textContent = text || "";
    status.className = "dvvr-message" + (kind ? " dvvr-" + kind : "");
    clearTimeout(noteTimer);
    // notes go away by themselves; an error stays until the next action
    if (text && kind !== "error") noteTimer = setTimeout(() => say(""), NOTE_MS);
  };
  let inputNoteTimer = null;
  const noteInput = (text) => {
    inputNote.textContent = text;
    clearTimeout(inputNoteTimer);
    inputNoteTimer = setTimeout(() => (inputNote.textContent = ""), NOTE_MS);
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
    if (S.inspecting && (resultChanged || layersChanged)) {
      // the enlarged channel follows the input (and closes when its layer is gone)
      const layer = layerOf(S.inspecting.layer);
      if (layer && !layersChanged) inspect(layer, S.inspecting.channel);
      else { S.inspecting = null; inspector.replaceChildren(); }
    }
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
      S.inspecting = null;
      inspector.replaceChildren();
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
    const unit = meta.unit || "";
    layerTitle.replaceChildren(
      el("b", { text: `${layer.id}: ${layer.name}` }),
      el("span", { class: "dvvr-muted", text: ` ${layer.kind} ${meta.shape.join("×")} · values ${fmt(meta.low)}${unit} … ${fmt(meta.high)}${unit}` }));
    legend.replaceChildren(layer.kind === "vector" ? el("span") : colourLegend(lut, meta.low, meta.high, unit));
    hists.replaceChildren(histogramSvg(meta.histogram, "activations"), histogramSvg(meta.weight_histogram, "weights"));
    const pages = Math.ceil(channels / meta.page);
    const what = meta.order === "value" ? "ranks" : "channels";
    const last = meta.start + meta.count;
    pager.replaceChildren(
      el("button", { class: "dvvr-prev", text: "◀", disabled: S.page === 0, onclick: () => { S.page--; drawGrid(); } }),
      el("span", { class: "dvvr-page-label", text: ` ${what} ${meta.order === "value" ? meta.start + 1 : meta.start}–${meta.order === "value" ? last : last - 1} of ${channels}` +
        (meta.order === "value" ? " (sorted by value, top first) " : pages > 1 ? ` (page ${S.page + 1} of ${pages}) ` : " ") }),
      el("button", { class: "dvvr-next", text: "▶", disabled: S.page >= pages - 1, onclick: () => { S.page++; drawGrid(); } }));
    let body;
    if (layer.kind === "vector") {
      body = vectorBars(meta);
      body.addEventListener("click", (e) => {
        const row = e.target.closest("[data-channel]");
        if (row) inspect(layer, Number(row.dataset.channel));
      });
    } else {
      body = el("canvas", { class: "dvvr-grid-canvas" });
      const width = Math.max(120, Math.min(GRID_WIDTH, (right.clientWidth || GRID_WIDTH) - 4));
      const layout = tileLayout(meta.count, h, w, width, tileSize(h, w));
      paintAtlas(body, layout, meta.count, h, w, grayFiller(pixels, h, w, lut), { label: (t) => String(meta.start + t) });
      const valueAt = (t, fx, fy) => {
        const p = pixels[(t * h + Math.min(h - 1, Math.floor(fy * h))) * w + Math.min(w - 1, Math.floor(fx * w))];
        return meta.low + (p / 255) * (meta.high - meta.low);
      };
      body.addEventListener("mousemove", (e) => {
        const at = tileAt(layout, body, e);
        hover.textContent = at.tile >= 0 && at.tile < meta.count
          ? `channel ${meta.start + at.tile} · value ≈ ${fmt(valueAt(at.tile, at.fx, at.fy))} (click: enlarge, exact values)`
          : " ";
      });
      body.addEventListener("click", (e) => {
        const at = tileAt(layout, body, e);
        if (at.tile >= 0 && at.tile < meta.count) inspect(layer, meta.start + at.tile);
      });
      body.title = "click a channel to enlarge it";
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

  // --- one channel enlarged --------------------------------------------------------
  async function inspect(layer, channel) {
    S.inspecting = { layer: layer.id, channel };
    let answer;
    try {
      answer = await call("GET", `network/${network()}/layer/${layer.id}/channel/${channel}`);
    } catch (err) {
      say(String(err.message || err), "error");
      return;
    }
    if (!S.inspecting || S.inspecting.layer !== layer.id || S.inspecting.channel !== channel) return;
    const { meta, payload } = parseEnvelope(answer.data);
    const values = new Float32Array(payload.slice().buffer);
    inspector.replaceChildren(channelInspector(layer, meta, values, {
      channels: layer.shape[0] || meta.channel + 1,
      show: (c) => inspect(layer, c),
      close: () => { S.inspecting = null; inspector.replaceChildren(); },
    }));
  }

  // --- feature visualization ----------------------------------------------------
  function duration(seconds) {
    if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }

  function drawFeatvis() {
    const layer = layerOf(S.layer);
    if (!layer || layer.kind === "info") {
      featvis.replaceChildren();
      return;
    }
    const job = S.state.featvis[String(layer.id)];
    const now = S.state.result.weights;
    const running = job && (job.state === "queued" || job.state === "running");
    const current = S.state.featvis_stored.includes(layer.id);
    // a finished job of weights the model has left behind: its pictures are stale, not "done"
    const stale = job && job.state === "done" && !current && job.weights !== null && job.weights !== undefined && job.weights !== now;
    const fraction = job ? (job.fraction !== undefined ? job.fraction : job.done / Math.max(1, job.total)) : 0;
    let words;
    const older = !current && (S.state.featvis_any || []).includes(layer.id);
    if (!job) words = current ? "pictures stored for these weights (from an earlier run)" : older ? "stale (older weights' pictures below)" : "not started";
    else if (running) {
      words = `${job.state} ${job.done}/${job.total} channels · ${Math.floor(fraction * 100)} %` +
        (job.eta_s !== null && job.eta_s !== undefined ? ` · about ${duration(job.eta_s)} left` : "");
    } else if (stale) words = `stale (weights v${job.weights}, now v${now})`;
    else words = `${job.state} ${job.done}/${job.total}` + (job.error ? ` (${job.error})` : "") +
      (job.state === "done" && job.seconds ? ` in ${duration(job.seconds)}` : "");
    const progress = el("progress", { class: "dvvr-fv-progress", max: 1, value: job ? (stale ? 0 : fraction) : current ? 1 : 0 });
    featvis.replaceChildren(el("div", { class: "dvvr-fv-head" },
      el("b", { text: "Feature visualization " }),
      el("button", { class: "dvvr-fv-start", text: running ? "running…" : stale || (!job && older) || (job && job.state !== "done") ? "recompute" : "start",
        disabled: running, onclick: () => featvisAction("start", { fresh: !!stale }) }),
      el("button", { class: "dvvr-fv-cancel", text: "cancel", disabled: !running, onclick: () => featvisAction("cancel") }),
      progress, el("span", { class: "dvvr-fv-state", "data-state": stale || (!job && older) ? "stale" : job ? job.state : current ? "stored" : "none", text: " " + words })),
    el("div", { class: "dvvr-fv-images" }));
    // pictures: those of these weights, those of older weights (marked), or the batches a running job finished
    const key = JSON.stringify([network(), layer.id, now, job ? job.state : null, running ? job.done : null, S.fvPage]);
    if (S.fvLoaded && S.fvLoaded.key === key) {
      featvis.querySelector(".dvvr-fv-images").replaceChildren(...S.fvLoaded.nodes);
    } else if (current || (job && (job.state === "done" || job.done > 0)) ||
      ((S.state.featvis_any || []).includes(layer.id) && !S.fvMissing.has(`${network()}/${layer.id}`))) {
      loadFeatvisImages(layer, key);
    }
  }
  S.fvMissing = new Set(); // layers asked once with nothing stored (never asked again until a job runs)

  async function featvisAction(action, body) {
    const layer = layerOf(S.layer);
    const pushes = S.featvisPushes;
    S.fvMissing.delete(`${network()}/${layer.id}`);
    try {
      const answer = (await call("POST", `network/${network()}/featvis/${layer.id}/${action}`, body || {})).json();
      // the kernel's pushes are newer than this answer if one came in meanwhile
      if (answer.job && S.featvisPushes === pushes) S.state.featvis[String(layer.id)] = answer.job;
      drawFeatvis();
    } catch (err) {
      say(String(err.message || err), "error");
    }
  }

  async function loadFeatvisImages(layer, key) {
    const count = 16;
    let answer;
    try {
      answer = await S.transport.request("GET", `network/${network()}/featvis/${layer.id}/channels/${S.fvPage * count}/${count}`);
    } catch (err) {
      return;
    }
    if (S.layer !== layer.id) return;
    if (!answer.ok) {
      S.fvMissing.add(`${network()}/${layer.id}`); // nothing stored: said once, not asked at every push
      S.fvLoaded = { key, nodes: [] };
      return;
    }
    const { meta, payload } = parseEnvelope(answer.data);
    const [channels, h, w] = meta.shape;
    const canvas = el("canvas", { class: "dvvr-fv-canvas" });
    const width = Math.max(120, Math.min(GRID_WIDTH, (right.clientWidth || GRID_WIDTH) - 4));
    const layout = tileLayout(meta.count, h, w, width, Math.min(96, Math.max(h, w)));
    const ready = (t) => !meta.partial || meta.ready[t];
    paintAtlas(canvas, layout, meta.count, h, w, rgbFiller(payload, h, w),
      { label: (t) => String(meta.start + t), missing: (t) => !ready(t) });
    canvas.title = "click a channel: enlarge it (and use it as the input)";
    const note = meta.stale
      ? `stale: pictures of ${meta.weights === null || meta.weights === undefined ? "the weights of an earlier run" : `weights v${meta.weights}`}, ` +
        `now v${meta.now}. "recompute" makes those of now.`
      : meta.partial ? "the batches finished so far; gray: not yet" : "";
    canvas.addEventListener("click", (e) => {
      const at = tileAt(layout, canvas, e);
      if (at.tile < 0 || at.tile >= meta.count || !ready(at.tile)) return;
      const size = h * w * 3;
      const rgb = payload.subarray(at.tile * size, (at.tile + 1) * size);
      inspector.replaceChildren(featvisInspector(layer, meta.start + at.tile, rgb, h, w,
        meta.stale || meta.partial ? note : "", {
          use: meta.stale || meta.partial ? null : (c) => choose({ kind: "featvis", layer: layer.id, channel: c }),
          close: () => inspector.replaceChildren(),
        }));
    });
    const pages = Math.ceil(channels / count);
    const nodes = [];
    if (note) nodes.push(el("div", { class: "dvvr-fv-note" + (meta.stale ? " dvvr-stale" : ""), text: note }));
    nodes.push(el("div", { class: "dvvr-pager" },
      el("button", { text: "◀", disabled: S.fvPage === 0, onclick: () => { S.fvPage--; drawFeatvis(); } }),
      el("span", { text: ` channels ${meta.start}–${meta.start + meta.count - 1} of ${channels} (click one: enlarge, use as input) ` }),
      el("button", { text: "▶", disabled: S.fvPage >= pages - 1, onclick: () => { S.fvPage++; drawFeatvis(); } })), canvas);
    S.fvLoaded = { key, nodes };
    const holder = featvis.querySelector(".dvvr-fv-images");
    if (holder) holder.replaceChildren(...nodes);
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
      S.connectionInfo = info;
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
        : "";
      applyState(msg.state, why);
      if (msg.origin === "vr") {
        noteInput("input chosen in the headset"); // beside the thumbnails it changed
        drawConnection();
      }
      if (msg.change === "retracked") drawConnection();
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
    // a narrower or wider panel (the file browser opened or closed): the grid is drawn for its new width
    let width = right.clientWidth;
    const resized = new ResizeObserver(() => {
      if (Math.abs(right.clientWidth - width) < 24) return;
      width = right.clientWidth;
      S.fvLoaded = null;
      drawGrid();
      drawFeatvis();
    });
    resized.observe(right);
    S.resized = resized;
  })();

  return () => {
    S.closed = true;
    model.off("msg:custom", onPush);
    S.timers.forEach(clearInterval);
    if (S.resized) S.resized.disconnect();
    clearTimeout(noteTimer);
    clearTimeout(inputNoteTimer);
    if (S.transport) S.transport.close();
    for (const url of thumbUrls.values()) url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  };
}

export default { render };
