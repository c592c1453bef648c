// network.js: draws one network's layout. Draw calls grow with layers, not
// channels: one quad per layer (its atlas, see layermaterial.js), all names
// and info panels in one merged mesh over one text atlas, all edges in one
// line mesh, one outline for the selection.

import * as THREE from "three";
import { TILE_GAP, tileAt } from "./layout.js";
import { grayTexture, layerMaterial, rgbTexture } from "./layermaterial.js";
import { markChanged } from "./redraw.js";

const LABEL_SLOT = { width: 768, height: 56 }; // pixels of one name in the text atlas
const LABEL_COLUMNS = 2;
const NAME_HEIGHT = 0.1; // metres
const INFO_TEXT_HEIGHT = 0.16;

export class NetworkView {
  constructor(layout) {
    this.layout = layout;
    this.group = new THREE.Group();
    this.group.name = "network";
    this.meshes = new Map(); // layer id -> tile mesh
    this.shown = new Map(); // layer id -> {result, rgb}
    for (const layer of layout.layers) {
      if (layer.kind === "info") continue;
      const mesh = new THREE.Mesh(new THREE.PlaneGeometry(layer.width, layer.height), layerMaterial(layer, TILE_GAP));
      mesh.position.set(layer.x, layer.y, layer.z);
      mesh.userData = { pick: "layer", layer };
      this.meshes.set(layer.id, mesh);
      this.group.add(mesh);
    }
    this.group.add(this.labels(layout.layers));
    this.group.add(this.edges(layout.edges));
    this.outline = new THREE.LineSegments(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ color: 0xffd21a }));
    this.outline.visible = false;
    this.group.add(this.outline);
  }

  // All layer names and info panels: one canvas, one merged geometry, one draw call.
  labels(layers) {
    const rows = Math.ceil(layers.length / LABEL_COLUMNS);
    const canvas = document.createElement("canvas");
    canvas.width = LABEL_SLOT.width * LABEL_COLUMNS;
    canvas.height = rows * LABEL_SLOT.height;
    const ctx = canvas.getContext("2d");
    const positions = [], uvs = [], indices = [];
    layers.forEach((layer, i) => {
      const sx = (i % LABEL_COLUMNS) * LABEL_SLOT.width, sy = Math.floor(i / LABEL_COLUMNS) * LABEL_SLOT.height;
      const info = layer.kind === "info";
      const text = info ? layer.name : `${layer.name}  ${layer.kind === "map" ? `${layer.channels}×${layer.tileH}×${layer.tileW}` : `${layer.channels}`}`;
      ctx.font = `${info ? "bold " : ""}34px sans-serif`;
      const textWidth = Math.min(LABEL_SLOT.width - 16, ctx.measureText(text).width + 16);
      if (info) {
        ctx.fillStyle = "rgba(40, 60, 90, 0.92)";
        ctx.fillRect(sx, sy + 2, textWidth, LABEL_SLOT.height - 4);
      }
      ctx.fillStyle = info ? "#ffffff" : "#e8edf5";
      ctx.textBaseline = "middle";
      ctx.fillText(text, sx + 8, sy + LABEL_SLOT.height / 2, LABEL_SLOT.width - 24);
      const h = info ? INFO_TEXT_HEIGHT : NAME_HEIGHT, w = (h * textWidth) / LABEL_SLOT.height;
      const cx = layer.x, cy = info ? layer.y : layer.y + layer.height / 2 + h / 2 + 0.03, z = layer.z;
      const base = positions.length / 3;
      positions.push(cx - w / 2, cy - h / 2, z, cx + w / 2, cy - h / 2, z, cx + w / 2, cy + h / 2, z, cx - w / 2, cy + h / 2, z);
      const u0 = sx / canvas.width, u1 = (sx + textWidth) / canvas.width;
      const v0 = 1 - (sy + LABEL_SLOT.height) / canvas.height, v1 = 1 - sy / canvas.height;
      uvs.push(u0, v0, u1, v0, u1, v1, u0, v1);
      indices.push(base, base + 1, base + 2, base, base + 2, base + 3);
    });
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
    geometry.setAttribute("uv", new THREE.Float32BufferAttribute(uvs, 2));
    geometry.setIndex(indices);
    const texture = new THREE.CanvasTexture(canvas);
    texture.colorSpace = THREE.SRGBColorSpace;
    texture.anisotropy = 4;
    this.labelBytes = canvas.width * canvas.height * 4;
    const mesh = new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ map: texture, transparent: true, side: THREE.DoubleSide }));
    mesh.name = "labels";
    return mesh;
  }

  edges(edges) {
    const positions = [];
    for (const edge of edges) {
      for (let i = 1; i < edge.points.length; i++) positions.push(...edge.points[i - 1], ...edge.points[i]);
    }
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
    const lines = new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ color: 0x6d8fb8 }));
    lines.name = "edges";
    return lines;
  }

  // A new atlas for a layer: grayscale activations ({meta, pixels}) or an RGB canvas (feature visualizations).
  setAtlas(layerId, { meta, pixels, rgb = false }) {
    const mesh = this.meshes.get(layerId);
    if (!mesh) return;
    const uniforms = mesh.material.uniforms;
    if (uniforms.atlas.value) uniforms.atlas.value.dispose();
    uniforms.atlas.value = rgb ? rgbTexture(pixels) : grayTexture(pixels);
    uniforms.zero.value = rgb ? 0 : meta.zeroValue / 255;
    uniforms.rgb.value = rgb ? 1 : 0;
    uniforms.loaded.value = 1;
    markChanged();
    this.shown.set(layerId, { result: meta.result, rgb, min: meta.min, max: meta.max, zeroValue: meta.zeroValue });
  }

  textureBytes() {
    let total = this.labelBytes;
    for (const mesh of this.meshes.values()) total += mesh.material.uniforms.atlas.value?.bytes || 0;
    return total;
  }

  mapsShown() {
    let maps = 0;
    for (const [id, mesh] of this.meshes) if (this.shown.has(id)) maps += mesh.userData.layer.channels;
    return maps;
  }

  select(layer, channel) {
    markChanged();
    for (const mesh of this.meshes.values()) mesh.material.uniforms.selected.value = -1;
    if (!layer) { this.outline.visible = false; return; }
    const mesh = this.meshes.get(layer.id);
    if (mesh) mesh.material.uniforms.selected.value = channel ?? -1;
    const w = Math.max(layer.width, 0.75) / 2 + 0.04, h = layer.height / 2 + 0.04, { x, y, z } = layer;
    const corners = [[x - w, y - h], [x + w, y - h], [x + w, y + h], [x - w, y + h]];
    const positions = [];
    corners.forEach((c, i) => positions.push(c[0], c[1], z, corners[(i + 1) % 4][0], corners[(i + 1) % 4][1], z));
    this.outline.geometry.dispose();
    this.outline.geometry = new THREE.BufferGeometry();
    this.outline.geometry.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
    this.outline.visible = true;
  }

  // What a ray hit on a layer: {layer, channel}.
  static pick(hit) {
    const layer = hit.object.userData.layer;
    return { layer, channel: tileAt(layer, hit.uv.x, hit.uv.y) };
  }

  pickables() { return [...this.meshes.values()]; }

  dispose() {
    markChanged();
    this.group.traverse((object) => {
      object.geometry?.dispose();
      if (object.material) {
        object.material.map?.dispose();
        object.material.uniforms?.atlas.value?.dispose();
        object.material.dispose();
      }
    });
    this.group.removeFromParent();
  }
}
