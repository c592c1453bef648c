// colormap.js: the VR client's colour map, turning at the layer's zero value
// (white at zero, blue below, red above), and painting pages of channels.

export function colourLut(zero) {
  // 256 RGBA entries: pixel value -> colour
  const lut = new Uint8ClampedArray(256 * 4);
  for (let v = 0; v < 256; v++) {
    const below = Math.min(1, Math.max(0, (zero - v) / Math.max(zero, 1)));
    const above = Math.min(1, Math.max(0, (v - zero) / Math.max(255 - zero, 1)));
    lut[v * 4] = 255 * (1 - below);
    lut[v * 4 + 1] = 255 * (1 - below) * (1 - above);
    lut[v * 4 + 2] = 255 * (1 - above);
    lut[v * 4 + 3] = 255;
  }
  return lut;
}

export function colourCss(lut, value) {
  const i = Math.max(0, Math.min(255, value | 0)) * 4;
  return `rgb(${lut[i]},${lut[i + 1]},${lut[i + 2]})`;
}

// Tiles of `count` maps (h x w) drawn at `tile` px (the larger side) into
// a canvas of at most `width` px: the gap and each tile's frame are in
// screen pixels, so scaling down never merges neighbouring channels, and an
// all-zero (white) tile still shows its frame.
export function tileLayout(count, h, w, width, tile) {
  const gap = tile >= 8 ? 3 : 1;
  const fit = (t) => Math.max(1, Math.floor((width + gap) / (Math.round((w * t) / Math.max(h, w)) + gap)));
  // narrow: smaller tiles rather than a canvas wider than its column
  while (tile > 6 && fit(tile) < Math.min(count, 4)) tile = Math.floor(tile * 0.8);
  const tw = Math.max(1, Math.round((w * tile) / Math.max(h, w))), th = Math.max(1, Math.round((h * tile) / Math.max(h, w)));
  const cols = Math.max(1, Math.min(count, Math.floor((width + gap) / (tw + gap))));
  const rows = Math.ceil(count / cols);
  return { cols, rows, gap, tw, th, cellW: tw + gap, cellH: th + gap, width: cols * (tw + gap) - gap + 2, height: rows * (th + gap) - gap + 2 };
}

// The displayed size of one channel's tile: small maps enlarged to about 40 px, big ones at most 64 px.
export function tileSize(h, w) {
  const side = Math.max(h, w);
  if (side <= 2) return 14;
  if (side < 40) return side * Math.max(1, Math.round(40 / side));
  return Math.min(side, 64);
}

export function tileAt(layout, canvas, event) {
  // the tile index under a mouse event (or -1 in a gap), and the map pixel under it
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * canvas.width - 1;
  const y = ((event.clientY - rect.top) / rect.height) * canvas.height - 1;
  const col = Math.floor(x / layout.cellW), row = Math.floor(y / layout.cellH);
  const inX = x - col * layout.cellW, inY = y - row * layout.cellH;
  if (col < 0 || row < 0 || col >= layout.cols || inX >= layout.tw || inY >= layout.th) return { tile: -1 };
  return { tile: row * layout.cols + col, fx: inX / layout.tw, fy: inY / layout.th };
}

export function paintAtlas(canvas, layout, count, h, w, fill, options = {}) {
  // fill(imageData, tileIndex, x0, y0): writes one tile's RGBA pixels
  const atlas = document.createElement("canvas");
  atlas.width = layout.cols * w;
  atlas.height = layout.rows * h;
  const ctx = atlas.getContext("2d");
  const image = ctx.createImageData(atlas.width, atlas.height);
  for (let t = 0; t < count; t++) fill(image, t, (t % layout.cols) * w, Math.floor(t / layout.cols) * h);
  ctx.putImageData(image, 0, 0);
  canvas.width = layout.width;
  canvas.height = layout.height;
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = layout.tw < w; // shrinking: averaged, not dropped pixels
  for (let t = 0; t < count; t++) {
    const col = t % layout.cols, row = Math.floor(t / layout.cols);
    const x = 1 + col * layout.cellW, y = 1 + row * layout.cellH;
    if (options.missing && options.missing(t)) {
      out.fillStyle = "#ddd";
      out.fillRect(x, y, layout.tw, layout.th);
    } else {
      out.drawImage(atlas, col * w, row * h, w, h, x, y, layout.tw, layout.th);
    }
    if (layout.gap > 1) {
      out.strokeStyle = "rgba(120,120,120,0.55)"; // the frame: a white (all-zero) tile is still a tile
      out.lineWidth = 1;
      out.strokeRect(x - 0.5, y - 0.5, layout.tw + 1, layout.th + 1);
    }
    if (options.label && layout.tw >= 28) {
      const text = options.label(t);
      out.font = "9px sans-serif";
      const tw = out.measureText(text).width + 3;
      out.fillStyle = "rgba(255,255,255,0.8)";
      out.fillRect(x, y, tw, 11);
      out.fillStyle = "#333";
      out.fillText(text, x + 1.5, y + 8.5);
    }
  }
}

export function grayFiller(pixels, h, w, lut) {
  // pixels: Uint8Array [count, h, w] on the layer's scale
  return (image, t, x0, y0) => {
    const data = image.data;
    const stride = image.width * 4;
    let src = t * h * w;
    for (let y = 0; y < h; y++) {
      let dst = (y0 + y) * stride + x0 * 4;
      for (let x = 0; x < w; x++, src++, dst += 4) {
        const c = pixels[src] * 4;
        data[dst] = lut[c];
        data[dst + 1] = lut[c + 1];
        data[dst + 2] = lut[c + 2];
        data[dst + 3] = 255;
      }
    }
  };
}

export function rgbFiller(pixels, h, w) {
  // pixels: Uint8Array [count, h, w, 3]
  return (image, t, x0, y0) => {
    const data = image.data;
    const stride = image.width * 4;
    let src = t * h * w * 3;
    for (let y = 0; y < h; y++) {
      let dst = (y0 + y) * stride + x0 * 4;
      for (let x = 0; x < w; x++, src += 3, dst += 4) {
        data[dst] = pixels[src];
        data[dst + 1] = pixels[src + 1];
        data[dst + 2] = pixels[src + 2];
        data[dst + 3] = 255;
      }
    }
  };
}

export async function decodeGrayPng(bytes) {
  // one PNG of the page's maps stacked vertically -> Uint8Array of its gray values
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const gray = new Uint8Array(bitmap.width * bitmap.height);
  for (let i = 0; i < gray.length; i++) gray[i] = rgba[i * 4];
  return gray;
}

// Short numbers for axes and legends: 3 significant digits, no "e" for everyday sizes.
export function fmt(value) {
  if (value === 0) return "0";
  const a = Math.abs(value);
  if (a >= 1e4 || a < 1e-3) return value.toExponential(1);
  return String(Number(value.toPrecision(3)));
}

export function colourLegend(lut, low, high, unit) {
  // the layer's colour scale with real values: low … 0 … high
  const box = document.createElement("div");
  box.className = "dvvr-legend";
  const bar = document.createElement("canvas");
  bar.width = 256;
  bar.height = 1;
  const ctx = bar.getContext("2d");
  const image = ctx.createImageData(256, 1);
  for (let v = 0; v < 256; v++) for (let c = 0; c < 4; c++) image.data[v * 4 + c] = lut[v * 4 + c];
  ctx.putImageData(image, 0, 0);
  bar.className = "dvvr-legend-bar";
  const labels = document.createElement("div");
  labels.className = "dvvr-legend-labels";
  const u = unit || "";
  const marks = [[0, fmt(low) + u]];
  if (low < 0 && high > 0) marks.push([(-low / (high - low)) * 100, "0"]);
  marks.push([100, fmt(high) + u]);
  for (const [at, text] of marks) {
    const span = document.createElement("span");
    span.textContent = text;
    span.style.left = `${at}%`;
    labels.appendChild(span);
  }
  box.title = `colour scale of the whole layer (every page): blue below zero, white at zero, red above; ${fmt(low)} to ${fmt(high)}`;
  box.append(bar, labels);
  return box;
}

export function histogramSvg(histogram, title) {
  // counts per value, with a value axis (low, 0, high) and the largest count
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const W = 200, H = 50, left = 30, top = 14, bottom = 14;
  svg.setAttribute("width", left + W + 8);
  svg.setAttribute("height", top + H + bottom);
  svg.setAttribute("class", "dvvr-hist");
  const text = (x, y, content, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    if (anchor) t.setAttribute("text-anchor", anchor);
    t.textContent = content;
    svg.appendChild(t);
    return t;
  };
  const line = (x1, y1, x2, y2, cls) => {
    const l = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v));
    l.setAttribute("class", cls || "dvvr-axis");
    svg.appendChild(l);
  };
  const label = text(0, 10, title + " (count per value)");
  if (!histogram || !histogram.counts.length) {
    label.textContent = title + ": none";
    return svg;
  }
  const counts = histogram.counts, centres = histogram.centres;
  const max = Math.max(1, ...counts);
  const bw = W / counts.length;
  const half = centres.length > 1 ? (centres[1] - centres[0]) / 2 : 0.5;
  const low = centres[0] - half, high = centres[centres.length - 1] + half;
  counts.forEach((count, i) => {
    const bar = document.createElementNS(ns, "rect");
    const bh = H * (count / max);
    bar.setAttribute("x", left + i * bw + 0.5);
    bar.setAttribute("y", top + H - bh);
    bar.setAttribute("width", Math.max(1, bw - 1));
    bar.setAttribute("height", bh);
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${fmt(centres[i] - half)} … ${fmt(centres[i] + half)}: ${count}`;
    bar.appendChild(tip);
    svg.appendChild(bar);
  });
  line(left, top + H + 0.5, left + W, top + H + 0.5);
  line(left - 0.5, top, left - 0.5, top + H);
  text(left - 3, top + 8, fmt(max), "end");
  text(left - 3, top + H, "0", "end");
  const at = (v) => left + ((v - low) / (high - low)) * W;
  text(left, top + H + 11, fmt(low), "start");
  text(left + W, top + H + 11, fmt(high), "end");
  if (low < 0 && high > 0) {
    line(at(0), top, at(0), top + H + 3, "dvvr-axis dvvr-zero");
    text(at(0), top + H + 11, "0", "middle");
  }
  return svg;
}
