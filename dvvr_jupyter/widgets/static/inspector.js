// inspector.js: one channel enlarged, as TensorBoard's image dashboard shows
// one image and Netron's property panel one node: the map at a readable size,
// the value under the pointer, the channel's index and statistics; for a
// feature visualization, the picture and "use as input".

import { colourLut, fmt } from "./colormap.js";
import { el } from "./panels.js";

const SIDE = 240; // px the enlarged map takes (its larger side)

function enlarged(h, w, paint) {
  const canvas = el("canvas", { class: "dvvr-inspect-canvas" });
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  paint(image.data);
  ctx.putImageData(image, 0, 0);
  const zoom = SIDE / Math.max(h, w);
  canvas.style.width = `${Math.round(w * zoom)}px`;
  canvas.style.height = `${Math.round(h * zoom)}px`;
  return canvas;
}

function pointerCell(canvas, event, h, w) {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - rect.left) / rect.width) * w);
  const y = Math.floor(((event.clientY - rect.top) / rect.height) * h);
  return x >= 0 && y >= 0 && x < w && y < h ? [y, x] : null;
}

// meta: the "channel" answer (shape, statistics, the layer's range and zero); values: Float32Array [h*w]
export function channelInspector(layer, meta, values, actions) {
  const [h, w] = meta.shape;
  const lut = colourLut(meta.zero);
  const low = meta.layer_low, span = Math.max(meta.layer_high - low, 1e-12);
  const canvas = enlarged(h, w, (data) => {
    for (let i = 0; i < h * w; i++) {
      const p = Math.max(0, Math.min(255, Math.round(((values[i] - low) / span) * 255))) * 4;
      data[i * 4] = lut[p];
      data[i * 4 + 1] = lut[p + 1];
      data[i * 4 + 2] = lut[p + 2];
      data[i * 4 + 3] = 255;
    }
  });
  const readout = el("div", { class: "dvvr-inspect-value", text: "value under the pointer: move over the map" });
  canvas.addEventListener("mousemove", (e) => {
    const cell = pointerCell(canvas, e, h, w);
    if (cell) readout.textContent = `value at row ${cell[0]}, column ${cell[1]}: ${fmt(values[cell[0] * w + cell[1]])}`;
  });
  const stats = [
    ["min", fmt(meta.min)], ["max", fmt(meta.max)], ["mean", fmt(meta.mean)], ["std", fmt(meta.std)],
    ["exactly 0", `${Math.round(meta.zeros * 100)} %`], ["peak at", `row ${meta.argmax[0]}, column ${meta.argmax[1]}`],
    ["size", `${h}×${w}`], ["layer's range", `${fmt(meta.layer_low)} … ${fmt(meta.layer_high)}`],
  ];
  return el("div", { class: "dvvr-inspector", "data-channel": String(meta.channel) },
    el("div", { class: "dvvr-inspect-head" },
      el("b", { text: `channel ${meta.channel} of ${layer.name}` }),
      el("button", { class: "dvvr-inspect-prev", text: "◀", title: "previous channel", disabled: meta.channel === 0,
        onclick: () => actions.show(meta.channel - 1) }),
      el("button", { class: "dvvr-inspect-next", text: "▶", title: "next channel",
        disabled: meta.channel >= actions.channels - 1, onclick: () => actions.show(meta.channel + 1) }),
      el("button", { class: "dvvr-inspect-close", text: "close", onclick: actions.close })),
    el("div", { class: "dvvr-inspect-body" }, canvas,
      el("div", {}, readout, el("table", { class: "dvvr-inspect-stats" },
        ...stats.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))))));
}

// one feature visualization enlarged: rgb is Uint8Array [h*w*3]
export function featvisInspector(layer, channel, rgb, h, w, note, actions) {
  const canvas = enlarged(h, w, (data) => {
    for (let i = 0; i < h * w; i++) {
      data[i * 4] = rgb[i * 3];
      data[i * 4 + 1] = rgb[i * 3 + 1];
      data[i * 4 + 2] = rgb[i * 3 + 2];
      data[i * 4 + 3] = 255;
    }
  });
  return el("div", { class: "dvvr-inspector dvvr-fv-inspector", "data-channel": String(channel) },
    el("div", { class: "dvvr-inspect-head" },
      el("b", { text: `feature visualization of channel ${channel} of ${layer.name}` }),
      el("button", { class: "dvvr-fv-use", text: "use as input", disabled: !actions.use,
        title: actions.use ? "make this picture the input (the headset shows it too)" : "only pictures of the current weights can be the input",
        onclick: () => actions.use(channel) }),
      el("button", { class: "dvvr-inspect-close", text: "close", onclick: actions.close })),
    el("div", { class: "dvvr-inspect-body" }, canvas,
      el("div", { class: "dvvr-muted", text: "the picture that excites this channel most (optimised from the input). " + (note || "") })));
}
