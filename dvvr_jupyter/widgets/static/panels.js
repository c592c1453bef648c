// panels.js: the small panels: input thumbnails, top classes, vector bars,
// the tracked-modules tree and the connection.

import { fmt } from "./colormap.js";

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child) node.appendChild(child);
  return node;
}

export function inputPanel(state, thumbUrl, actions) {
  const box = el("div", { class: "dvvr-thumbs" });
  const current = state.input;
  const dataset = state.dataset;
  if (dataset && dataset.id !== null) {
    for (let i = 0; i < dataset.len; i++) {
      const isCurrent = current.kind === "dataset" && current.dataset === dataset.id && current.index === i;
      const img = el("img", { alt: dataset.labels[i] || "" });
      thumbUrl(`dataset/${dataset.id}/thumb/${i}.png`).then((url) => (img.src = url));
      box.appendChild(el("button", {
        class: "dvvr-thumb" + (isCurrent ? " dvvr-current" : ""), "data-index": String(i),
        title: `image ${i}: ${dataset.labels[i] || ""}`, onclick: () => actions.dataset(i),
      }, img));
    }
  }
  const noise = el("button", {
    class: "dvvr-noise" + (current.kind === "noise" ? " dvvr-current" : ""), text: "noise",
    title: "a new noise image as input", onclick: () => actions.noise(),
  });
  const blank = el("button", {
    class: "dvvr-blank" + (current.kind === "blank" ? " dvvr-current" : ""), text: "blank",
    title: "an all-zero input", onclick: () => actions.blank(),
  });
  return el("div", { class: "dvvr-input" }, box, el("div", { class: "dvvr-input-buttons" }, noise, blank));
}

// One bar on a fixed scale: confidences from 0 to 100 %; raw scores and
// other signed values from a zero line, negatives to its left.
function signedBar(value, low, high) {
  const span = Math.max(high - Math.min(low, 0), 1e-12);
  const zero = (Math.max(0, -Math.min(low, 0)) / span) * 100; // where 0 sits, % of the track
  const track = el("span", { class: "dvvr-bar-track" });
  const bar = el("span", { class: "dvvr-bar" + (value < 0 ? " dvvr-bar-negative" : "") });
  const width = (Math.abs(value) / span) * 100;
  bar.style.left = `${value < 0 ? zero - width : zero}%`;
  bar.style.width = `${Math.min(100, width)}%`;
  track.appendChild(bar);
  if (zero > 0) {
    const line = el("span", { class: "dvvr-zero-line" });
    line.style.left = `${zero}%`;
    track.appendChild(line);
  }
  return track;
}

export function topClasses(state) {
  const top = state.result.top;
  const unit = state.result.top_unit === "score" ? "" : "%";
  const box = el("div", { class: "dvvr-top", "data-result-id": String(state.result.id) });
  if (!top.length) {
    box.appendChild(el("div", { class: "dvvr-muted", text: "not a classifier: no top classes" }));
    return box;
  }
  // confidences: the whole bar is 100 %; raw scores: the largest magnitude, from a zero line
  const values = top.map((t) => t[1]);
  const [low, high] = unit ? [0, 100] : [Math.min(0, ...values), Math.max(0, ...values)];
  for (const [name, value] of top) {
    box.appendChild(el("div", { class: "dvvr-bar-row", title: `${name}: ${value}${unit}` },
      el("span", { class: "dvvr-bar-label", text: name }),
      signedBar(value, low, high),
      el("span", { class: "dvvr-bar-value", text: value.toFixed(2) + unit })));
  }
  box.appendChild(el("div", { class: "dvvr-bar-row dvvr-axis-row" }, el("span", {}),
    el("span", { class: "dvvr-bar-axis" }, el("span", { text: fmt(low) + unit }), el("span", { text: fmt(high) + unit })),
    el("span", {})));
  return box;
}

export function vectorBars(meta) {
  // a page of a 1D layer, sorted by value (top first), on the layer's one scale
  const box = el("div", { class: "dvvr-vector" });
  const values = meta.values || [];
  const unit = meta.unit || "";
  const [low, high] = unit ? [0, 100] : [Math.min(0, meta.low), Math.max(0, meta.high)];
  values.forEach((value, i) => {
    const channel = meta.channels ? meta.channels[i] : meta.start + i;
    const name = meta.names ? meta.names[i] : "";
    box.appendChild(el("div", { class: "dvvr-bar-row", "data-channel": String(channel),
      title: `rank ${meta.start + i + 1}: channel ${channel}${name ? " " + name : ""} = ${value}${unit}` },
      el("span", { class: "dvvr-bar-label", text: `${channel}${name ? " " + name : ""}` }),
      signedBar(value, low, high), el("span", { class: "dvvr-bar-value", text: fmt(value) + unit })));
  });
  box.appendChild(el("div", { class: "dvvr-bar-row dvvr-axis-row" }, el("span", {}),
    el("span", { class: "dvvr-bar-axis" }, el("span", { text: fmt(low) + unit }),
      low < 0 ? el("span", { text: "0" }) : null, el("span", { text: fmt(high) + unit })),
    el("span", {})));
  return box;
}

export function moduleTree(tree, onChange) {
  // tree.modules in named_modules() order: a parent always comes before its children
  const root = el("div", { class: "dvvr-tree" });
  const holders = new Map([["", root]]);
  const ticked = new Set(tree.tracked);
  for (const module of tree.modules) {
    const dot = module.name.lastIndexOf(".");
    const parent = holders.get(dot < 0 ? "" : module.name.slice(0, dot)) || root;
    const box = el("input", { type: "checkbox", checked: ticked.has(module.name), "data-module": module.name });
    box.addEventListener("change", () => onChange(module.name, box.checked));
    const label = el("label", { title: `${module.type}, ${module.params} parameters of its own` }, box,
      el("span", { text: " " + module.name.split(".").pop() }), el("span", { class: "dvvr-muted", text: " " + module.type }));
    if (module.children) {
      const kids = el("div", { class: "dvvr-tree-kids" });
      const details = el("details", { open: dot < 0 }, el("summary", {}, label), kids);
      parent.appendChild(details);
      holders.set(module.name, kids);
    } else {
      parent.appendChild(el("div", { class: "dvvr-tree-leaf" }, label));
    }
  }
  return root;
}

export function connectionPanel(info) {
  const box = el("div", { class: "dvvr-connection-body" });
  const url = info.vr_url || info.direct_url;
  // each QR code with what it opens under it (made by the kernel, segno, from its own URL)
  const qrFigure = (svg, caption, cls) => {
    const qr = el("div", { class: "dvvr-qr " + cls });
    qr.innerHTML = svg;
    return el("figure", { class: "dvvr-qr-figure" }, qr, el("figcaption", { text: caption }));
  };
  if (info.qr_svg) box.appendChild(qrFigure(info.qr_svg, "VR client", "dvvr-qr-vr"));
  const text = el("div", {});
  text.appendChild(el("div", {}, el("b", { text: "VR URL: " }),
    el("code", { class: "dvvr-vr-url", text: url || "none: no Jupyter server runs this kernel (%dvvr serve)" })));
  if (info.named_url) text.appendChild(el("div", { class: "dvvr-muted", text: "this session only: " + info.named_url }));
  if (url) {
    text.appendChild(el("div", {}, el("b", { text: "3D view in a browser: " }),
      el("a", { class: "dvvr-xr-link", href: url + "xr/", target: "_blank", rel: "noopener noreferrer", text: url + "xr/" })));
  }
  const clients = (info.clients || []).join(", ") || "none";
  text.appendChild(el("div", { class: "dvvr-clients", text: `VR clients in the last minute: ${clients}` }));
  const age = info.last_request_s;
  text.appendChild(el("div", { class: "dvvr-last", text: "last VR request: " + (age === null || age === undefined ? "none yet" : `${age} s ago`) }));
  box.appendChild(text);
  if (info.xr_qr_svg) box.appendChild(qrFigure(info.xr_qr_svg, "3D view", "dvvr-qr-xr"));
  return box;
}
