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

// Tiles of `count` maps (h x w): painted once into an unscaled atlas
// without gaps, then each drawn scaled into the visible canvas with a gap
// of a pixel or two (a gap in atlas pixels would grow with the scale).
export function tileLayout(count, h, w, width, scale) {
  const gap = scale > 1 ? 2 : 1;
  const cellW = w * scale + gap, cellH = h * scale + gap;
  const cols = Math.max(1, Math.min(count, Math.floor((width + gap) / cellW)));
  const rows = Math.ceil(count / cols);
  return { cols, rows, gap, cellW, cellH, width: cols * cellW - gap, height: rows * cellH - gap };
}

export function tileAt(layout, canvas, event) {
  // the tile index under a mouse event (or -1 in a gap)
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * canvas.width;
  const y = ((event.clientY - rect.top) / rect.height) * canvas.height;
  const col = Math.floor(x / layout.cellW), row = Math.floor(y / layout.cellH);
  return col < layout.cols ? row * layout.cols + col : -1;
}

export function paintAtlas(canvas, layout, count, h, w, scale, fill) {
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
  out.imageSmoothingEnabled = false;
  for (let t = 0; t < count; t++) {
    const col = t % layout.cols, row = Math.floor(t / layout.cols);
    out.drawImage(atlas, col * w, row * h, w, h, col * layout.cellW, row * layout.cellH, w * scale, h * scale);
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

export function histogramSvg(histogram, title) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const W = 176, H = 56;
  svg.setAttribute("width", W);
  svg.setAttribute("height", H + 14);
  svg.setAttribute("class", "dvvr-hist");
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 0);
  label.setAttribute("y", 10);
  label.textContent = title;
  svg.appendChild(label);
  if (!histogram || !histogram.counts.length) {
    label.textContent = title + ": none";
    return svg;
  }
  const max = Math.max(1, ...histogram.counts);
  const bw = W / histogram.counts.length;
  histogram.counts.forEach((count, i) => {
    const bar = document.createElementNS(ns, "rect");
    const bh = (H - 2) * (count / max);
    bar.setAttribute("x", i * bw + 1);
    bar.setAttribute("y", 14 + H - bh);
    bar.setAttribute("width", Math.max(1, bw - 2));
    bar.setAttribute("height", bh);
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${histogram.centres[i].toPrecision(3)}: ${count}`;
    bar.appendChild(tip);
    svg.appendChild(bar);
  });
  return svg;
}
