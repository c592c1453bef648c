// panel.js: a flat panel in the world drawn with a 2D canvas (text, bars,
// thumbnails) and clickable regions: one mesh, one texture, one draw call.

import * as THREE from "three";
import { markChanged } from "./redraw.js";

export const PIXELS_PER_METRE = 900; // text of 26 px is 2.9 cm: readable at arm's length

export class CanvasPanel {
  constructor(name, width, height) {
    this.name = name;
    this.canvas = document.createElement("canvas");
    this.canvas.width = Math.round(width * PIXELS_PER_METRE);
    this.canvas.height = Math.round(height * PIXELS_PER_METRE);
    this.ctx = this.canvas.getContext("2d");
    this.texture = new THREE.CanvasTexture(this.canvas);
    this.texture.colorSpace = THREE.SRGBColorSpace;
    this.texture.anisotropy = 4;
    this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(width, height),
                               new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, side: THREE.DoubleSide }));
    this.mesh.name = name;
    this.mesh.userData = { pick: "panel", panel: this };
    this.regions = [];
  }

  get bytes() { return this.canvas.width * this.canvas.height * 4; }

  // Start a drawing: background, title; regions are added while drawing.
  begin(title) {
    const { ctx, canvas } = this;
    this.regions = [];
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "rgba(18, 24, 34, 0.9)";
    roundRect(ctx, 0, 0, canvas.width, canvas.height, 24);
    ctx.fill();
    if (title) this.text(title, 24, 44, { size: 34, weight: "bold" });
    return ctx;
  }

  end() {
    this.texture.needsUpdate = true;
    markChanged();
  }

  text(text, x, y, { size = 26, weight = "", colour = "#e8edf5", align = "left", maxWidth } = {}) {
    const { ctx } = this;
    ctx.font = `${weight} ${size}px sans-serif`;
    ctx.fillStyle = colour;
    ctx.textAlign = align;
    ctx.textBaseline = "middle";
    ctx.fillText(text, x, y, maxWidth);
    ctx.textAlign = "left";
  }

  button(id, label, x, y, w, h, { active = false, enabled = true } = {}) {
    const { ctx } = this;
    ctx.fillStyle = !enabled ? "#3a4250" : active ? "#2f7de1" : "#46546b";
    roundRect(ctx, x, y, w, h, 10);
    ctx.fill();
    this.text(label, x + w / 2, y + h / 2, { size: 26, align: "center", maxWidth: w - 12, colour: enabled ? "#fff" : "#9aa3b1" });
    if (enabled) this.region(id, x, y, w, h);
  }

  region(id, x, y, w, h) { this.regions.push({ id, x, y, w, h }); }

  // Histogram bars: counts over bin centres, with the first/last centre under the axis.
  bars(counts, bins, x, y, w, h, colour) {
    const { ctx } = this;
    ctx.fillStyle = "rgba(255,255,255,0.06)";
    ctx.fillRect(x, y, w, h);
    const top = Math.max(1, ...counts), bw = w / counts.length;
    ctx.fillStyle = colour;
    counts.forEach((c, i) => { const bh = (h - 4) * (c / top); ctx.fillRect(x + i * bw + 1, y + h - bh, bw - 2, bh); });
    if (bins.length) {
      this.text(formatNumber(bins[0]), x, y + h + 18, { size: 20, colour: "#9aa3b1" });
      this.text(formatNumber(bins[bins.length - 1]), x + w, y + h + 18, { size: 20, colour: "#9aa3b1", align: "right" });
    }
  }

  // The region under a uv point of the mesh (v up), or null.
  hit(uv) {
    const px = uv.x * this.canvas.width, py = (1 - uv.y) * this.canvas.height;
    return this.regions.find((r) => px >= r.x && px <= r.x + r.w && py >= r.y && py <= r.y + r.h) || null;
  }

  // The centre of a region in the mesh's local coordinates (tests aim at it).
  regionCentre(id) {
    const r = this.regions.find((region) => region.id === id);
    if (!r) return null;
    const { width, height } = this.mesh.geometry.parameters;
    return new THREE.Vector3(((r.x + r.w / 2) / this.canvas.width - 0.5) * width,
                             (0.5 - (r.y + r.h / 2) / this.canvas.height) * height, 0);
  }

  dispose() {
    this.texture.dispose();
    this.mesh.geometry.dispose();
    this.mesh.material.dispose();
    this.mesh.removeFromParent();
  }
}

export function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
}

export function formatNumber(value) {
  const v = Number(value);
  return Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);
}
