// panels.js: the panels around the network, each a CanvasPanel: the input
// frame, the dataset page (with noise, "new noise" and the network
// switcher), the top-10 classes and the selected layer's details.

import { CanvasPanel, formatNumber } from "./panel.js";

export class InputFrame extends CanvasPanel {
  constructor() { super("input-frame", 0.62, 0.78); }

  draw(picture, describe) {
    const ctx = this.begin();
    const side = this.canvas.width - 40;
    ctx.fillStyle = "#0b0e13";
    ctx.fillRect(20, 20, side, side);
    if (picture) {
      const scale = Math.min(side / picture.width, side / picture.height);
      const w = picture.width * scale, h = picture.height * scale;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(picture, 20 + (side - w) / 2, 20 + (side - h) / 2, w, h);
    }
    this.text(describe || "input", this.canvas.width / 2, side + 60, { size: 24, align: "center", maxWidth: side });
    this.end();
  }
}

export class DatasetPanel extends CanvasPanel {
  constructor() { super("dataset", 1.3, 1.62); }

  // page: {images: [ImageBitmap], labels: [str]}; noise: [ImageBitmap]; networks: [name]
  draw({ page, noise, current, networks, network }) {
    const ctx = this.begin("Choose the input");
    const cell = 290, x0 = 25, y0 = 80;
    page.images.forEach((image, i) => {
      const x = x0 + (i % 4) * cell, y = y0 + Math.floor(i / 4) * cell;
      const active = current && current.kind === "dataset" && current.index === i;
      ctx.fillStyle = active ? "#ffd21a" : "#0b0e13";
      ctx.fillRect(x, y, cell - 14, cell - 14);
      const inner = cell - 26, scale = Math.min(inner / image.width, (inner - 30) / image.height);
      ctx.drawImage(image, x + 6 + (inner - image.width * scale) / 2, y + 6, image.width * scale, image.height * scale);
      this.text(page.labels[i] || "", x + (cell - 14) / 2, y + cell - 32, { size: 20, align: "center", maxWidth: cell - 24 });
      this.region(`dataset:${i}`, x, y, cell - 14, cell - 14);
    });
    let y = y0 + Math.ceil(page.images.length / 4) * cell + 10;
    this.text("Noise", x0, y + 20, { size: 28, weight: "bold" });
    noise.forEach((image, g) => {
      const x = x0 + 110 + g * 330;
      const active = current && current.kind === "noise" && current.generator === g;
      ctx.fillStyle = active ? "#ffd21a" : "#0b0e13";
      ctx.fillRect(x, y - 10, 110, 110);
      if (image) ctx.drawImage(image, x + 5, y - 5, 100, 100);
      this.region(`noise:${g}`, x, y - 10, 110, 110);
      this.button(`newnoise:${g}`, "new noise", x + 120, y + 25, 180, 50);
    });
    y += 130;
    if (networks.length > 1) {
      this.text("Network", x0, y + 25, { size: 28, weight: "bold" });
      networks.forEach((name, n) => this.button(`network:${n}`, name, x0 + 150 + n * 300, y, 280, 50, { active: n === network }));
    }
    this.end();
  }
}

export class TopPanel extends CanvasPanel {
  constructor() { super("top10", 1.1, 0.86); }

  draw(classification) {
    const ctx = this.begin("Classification");
    const names = classification?.class_names || [], values = (classification?.confidence_values || []).map(Number);
    if (!names.length) this.text("not a classifier", 24, 110, { colour: "#9aa3b1" });
    const top = Math.max(1e-9, ...values.map(Math.abs));
    names.slice(0, 10).forEach((name, i) => {
      const y = 82 + i * 66;
      this.text(name, 24, y + 20, { size: 26, maxWidth: 420 });
      ctx.fillStyle = "rgba(255,255,255,0.07)";
      ctx.fillRect(460, y + 4, 400, 34);
      ctx.fillStyle = i === 0 ? "#e2553d" : "#c97a66";
      ctx.fillRect(460, y + 4, 400 * Math.max(0, values[i]) / top, 34);
      this.text(classification.confidence_values[i], 880, y + 21, { size: 24 });
    });
    this.end();
  }
}

export class LayerPanel extends CanvasPanel {
  constructor() {
    super("layer", 1.1, 1.05);
    // It stands beside the selected layer, where a neighbouring lane's layer may be nearer the viewer:
    // drawn over the scene and first for a ray (controls.js), so its histograms and button stay usable.
    this.mesh.material.depthTest = false;
    this.mesh.material.depthWrite = false;
    this.mesh.renderOrder = 10;
    this.mesh.userData.onTop = true;
  }

  // info: {layer, channel, className, activation: hist|null, weights: hist|null, featvis: {state, done, total}|null, showing}
  draw(info) {
    const { layer } = info;
    const ctx = this.begin(layer.name);
    const shape = layer.kind === "map" ? `${layer.channels} channels of ${layer.tileH}×${layer.tileW}`
                : layer.kind === "vector" ? `${layer.channels} values` : "info panel";
    this.text(`layer ${layer.id} · ${shape}`, 24, 92, { colour: "#b8c2d1" });
    if (info.channel >= 0) {
      this.text(`channel ${info.channel}${info.className ? ` · ${info.className}` : ""}`, 24, 130, { colour: "#ffd21a" });
    }
    let y = 165;
    if (info.activation) {
      this.text("activations", 24, y + 10, { size: 24 });
      this.bars(info.activation.counts.map(Number), info.activation.bins.map(Number), 220, y - 10, 740, 110, "#5a9be6");
      y += 160;
    }
    if (info.weights && info.weights.has_weights === "True") {
      this.text("weights", 24, y + 10, { size: 24 });
      this.bars(info.weights.counts.map(Number), info.weights.bins.map(Number), 220, y - 10, 740, 110, "#8bc47a");
      y += 160;
    } else if (info.activation) {
      this.text("no weights", 24, y + 10, { size: 24, colour: "#9aa3b1" });
      y += 60;
    }
    if (layer.kind !== "info") {
      const fv = info.featvis;
      const running = fv && fv.state === "running";
      this.button("featvis", info.showing === "featvis" ? "show activations" : "feature visualization", 24, y, 430, 60,
                  { active: info.showing === "featvis" });
      if (fv) {
        const share = fv.total ? fv.done / fv.total : 0;
        ctx.fillStyle = "rgba(255,255,255,0.08)";
        ctx.fillRect(480, y + 12, 470, 36);
        ctx.fillStyle = running ? "#2f7de1" : "#4c8a57";
        ctx.fillRect(480, y + 12, 470 * share, 36);
        this.text(`${fv.state} ${fv.done}/${fv.total}`, 715, y + 30, { size: 22, align: "center" });
      }
      if (info.showing === "featvis") this.text("click a tile to make it the input", 24, y + 100, { size: 22, colour: "#b8c2d1" });
    }
    this.end();
  }
}

export { formatNumber };
