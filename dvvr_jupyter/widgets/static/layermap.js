// layermap.js: the architecture as the VR client lays it out: depth (rows,
// top to bottom) x lanes (columns), precursor links as edges, skip lanes in
// their own colour, info panels as dashed name-only boxes.

const MAP = { boxW: 156, /* set per map from its names */ boxH: 20, colGap: 14, rowGap: 9, pad: 6 };

export function layerSignature(layers) {
  return layers.map((l) => `${l.id}:${l.name}:${l.pos}`).join("|");
}

export function layerMap(layers, selected, onSelect) {
  const ns = "http://www.w3.org/2000/svg";
  const depth = Math.max(0, ...layers.map((l) => l.pos[0])) + 1;
  const lanes = Math.max(0, ...layers.map((l) => l.pos[1])) + 1;
  const x = (lane) => MAP.pad + lane * (MAP.boxW + MAP.colGap);
  const y = (d) => MAP.pad + d * (MAP.boxH + MAP.rowGap);
  // boxes as wide as the longest name (the full name, never cut)
  const longest = Math.max(8, ...layers.map((l) => l.name.length));
  MAP.boxW = Math.min(320, Math.max(120, Math.ceil(longest * 6.2) + 10));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "dvvr-layermap");
  svg.setAttribute("width", 2 * MAP.pad + lanes * (MAP.boxW + MAP.colGap) - MAP.colGap);
  svg.setAttribute("height", 2 * MAP.pad + depth * (MAP.boxH + MAP.rowGap) - MAP.rowGap);
  svg.dataset.signature = layerSignature(layers);
  svg.dataset.layers = String(layers.length);
  const at = new Map(layers.map((l) => [l.pos.join(","), l]));
  const edges = document.createElementNS(ns, "g");
  svg.appendChild(edges);
  for (const layer of layers) {
    for (const p of layer.precursors) {
      const from = at.get(p.join(","));
      if (!from) continue;
      const x1 = x(from.pos[1]) + MAP.boxW / 2, y1 = y(from.pos[0]) + MAP.boxH;
      const x2 = x(layer.pos[1]) + MAP.boxW / 2, y2 = y(layer.pos[0]);
      const path = document.createElementNS(ns, "path");
      const bend = (y2 - y1) / 2;
      path.setAttribute("d", `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`);
      path.setAttribute("class", from.pos[1] > 0 || layer.pos[1] > 0 ? "dvvr-edge dvvr-edge-skip" : "dvvr-edge");
      edges.appendChild(path);
    }
  }
  for (const layer of layers) {
    const g = document.createElementNS(ns, "g");
    const classes = ["dvvr-layer", "dvvr-kind-" + layer.kind];
    if (layer.pos[1] > 0) classes.push("dvvr-lane-skip");
    if (layer.id === selected) classes.push("dvvr-selected");
    g.setAttribute("class", classes.join(" "));
    g.dataset.layerId = String(layer.id);
    g.dataset.kind = layer.kind;
    g.setAttribute("transform", `translate(${x(layer.pos[1])},${y(layer.pos[0])})`);
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("width", MAP.boxW);
    rect.setAttribute("height", MAP.boxH);
    rect.setAttribute("rx", 3);
    g.appendChild(rect);
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", 4);
    text.setAttribute("y", 14);
    const shape = layer.shape.length ? ` ${layer.shape.join("×")}` : "";
    text.textContent = layer.name;
    g.appendChild(text);
    const tip = document.createElementNS(ns, "title");
    // one naming with "Tracked modules": the module it ticks first, then where
    // the value is read and whose weights the histogram shows, where they differ
    const ticked = layer.unit || layer.weight_module || layer.module;
    tip.textContent = `${layer.id}: ${layer.name} (${layer.kind}${shape}) at ${layer.pos}` +
      (ticked ? `\nmodule: ${ticked}` : "") +
      (layer.module && layer.module !== ticked ? `\nvalue read after: ${layer.module}` : "") +
      (layer.weight_module && layer.weight_module !== ticked ? `\nweights of: ${layer.weight_module}` : "");
    g.appendChild(tip);
    if (layer.kind !== "info") g.addEventListener("click", () => onSelect(layer.id));
    svg.appendChild(g);
  }
  return svg;
}
