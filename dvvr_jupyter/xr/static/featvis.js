// featvis.js: a layer's feature visualizations: start (the GET computes or
// loads them), progress (events or the progress route), shown as the layer's
// tiles (one RGB atlas); clicking a tile makes it the input (app.js).

import { decodePng } from "./protocol.js";

const ATLAS_LIMIT = 2048; // pixels per side of a layer's RGB atlas (tiles are scaled down to fit)
const POLL_MS = 1000;

export class FeatureVisualizations {
  constructor(app) {
    this.app = app;
    this.jobs = new Map(); // layer id -> {state, done, total}
    this.shown = new Set();
    this.running = new Map(); // layer id -> AbortController
  }

  showing(layerId) { return this.shown.has(layerId); }
  progress(layerId) { return this.jobs.get(layerId) || null; }

  reset() {
    for (const abort of this.running.values()) abort.abort();
    this.running.clear();
    this.jobs.clear();
    this.shown.clear();
    clearInterval(this.poller);
    this.poller = null;
  }

  async toggle(layer) {
    if (this.shown.has(layer.id)) {
      this.shown.delete(layer.id);
      this.app.state.featvis = [...this.shown];
      return this.app.refresh();
    }
    if (this.running.has(layer.id)) return;
    const { app } = this, n = app.network, view = app.view, abort = new AbortController();
    this.running.set(layer.id, abort);
    this.update(layer.id, { state: "running", done: 0, total: layer.channels });
    this.poll(n);
    try {
      const answer = await app.protocol.featvis(n, layer.id, { signal: abort.signal });
      if (view !== app.view) return;
      const pixels = await atlasOf(answer.tensors, layer);
      view.setAtlas(layer.id, { meta: { zeroValue: 0, result: "featvis" }, pixels, rgb: true });
      this.shown.add(layer.id);
      app.state.featvis = [...this.shown];
      app.state.shown = { ...app.state.shown, [layer.id]: "featvis" };
      app.state.textureBytes = app.textureBytes();
      this.update(layer.id, { state: "done", done: layer.channels, total: layer.channels });
    } catch (error) {
      if (error.name !== "AbortError") this.update(layer.id, { state: "failed", done: 0, total: layer.channels });
    } finally {
      this.running.delete(layer.id);
    }
  }

  // Progress while a job runs: from the events route when it is there, else polled.
  poll(n) {
    if (this.poller || this.app.live?.connected) return;
    this.poller = setInterval(async () => {
      if (!this.running.size) { clearInterval(this.poller); this.poller = null; return; }
      try {
        const progress = await this.app.protocol.featvisProgress(n);
        for (const [id, job] of Object.entries(progress.layers)) if (this.running.has(Number(id))) this.update(Number(id), job);
      } catch { /* the next poll */ }
    }, POLL_MS);
  }

  update(layerId, { state, done, total }) {
    this.jobs.set(layerId, { state, done, total });
    this.app.state.featvisProgress = Object.fromEntries(this.jobs);
    const selection = this.app.selection;
    if (selection && selection.layer.id === layerId) this.app.showDetails(selection);
  }
}

// The layer's pictures as tiles of one RGB canvas, in the atlas's grid.
async function atlasOf(tensors, layer) {
  const images = await Promise.all(tensors.map(decodePng));
  const side = Math.max(1, Math.min(images[0].width, Math.floor(ATLAS_LIMIT / Math.max(layer.cols, layer.rows))));
  const canvas = document.createElement("canvas");
  canvas.width = layer.cols * side;
  canvas.height = layer.rows * side;
  const ctx = canvas.getContext("2d");
  images.forEach((image, i) => ctx.drawImage(image, (i % layer.cols) * side, Math.floor(i / layer.cols) * side, side, side));
  return canvas;
}
