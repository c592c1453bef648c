// layout.js: where everything stands, as pure functions of the architecture
// (no three.js, no DOM), following the VR client's placement rules: stages
// along the walking direction (-z), lanes across it (x), metres.

export const LANE_MARGIN = 0.75;
export const MIN_LAYER_WIDTH = 0.75;
export const MIN_STAGE_GAP = 0.75;
export const MAX_STAGE_GAP = 10;
export const INPUT_FRAME_GAP = 0.75;
export const FLOOR_TO_LAYER = 1.0; // bottom edge of a layer's tiles above the floor
export const INFO_HEIGHT = 2.9; // info panels float above their stage
export const TILE_GAP = 0.08; // part of a tile left as a gap between channels (drawn by the shader)

// The atlas grid the server uses too: near-square, row-major.
export function grid(channels) {
  const cols = Math.max(1, Math.ceil(Math.sqrt(channels)));
  return { cols, rows: Math.max(1, Math.ceil(channels / cols)) };
}

export function layerKind(layer) {
  return layer.data_type === "2D_feature_map" ? "map" : layer.data_type === "1D_vector" ? "vector" : "info";
}

// Tile edge in metres: larger maps get larger tiles, a 1 x 1 map a small square.
export function tileSize(height) {
  return Math.min(0.35, Math.max(0.04, 0.03 + 0.0025 * height));
}

function sized(layer, id) {
  const kind = layerKind(layer);
  const base = { id, kind, name: layer.layer_name, stage: layer.pos[0], lane: layer.pos[1] };
  if (kind === "info") return { ...base, channels: 0, width: 0, height: 0.3 };
  const channels = layer.size[1];
  const tileH = kind === "map" ? layer.size[2] : 1, tileW = kind === "map" ? layer.size[3] : 1;
  const { cols, rows } = grid(channels);
  let tile = tileSize(Math.max(tileH, tileW));
  const aspect = tileW / tileH; // tiles keep the map's aspect ratio
  let width = cols * tile * Math.max(1, aspect), height = rows * tile / Math.min(1, aspect);
  if (width < MIN_LAYER_WIDTH) { height *= MIN_LAYER_WIDTH / width; tile *= MIN_LAYER_WIDTH / width; width = MIN_LAYER_WIDTH; }
  return { ...base, channels, cols, rows, tileW, tileH, width, height,
           classnames: kind === "vector" && layer.layer_name.includes("(display_classnames)") };
}

// Cubic Bezier from a to b, bending along z (the walking direction), as `segments` + 1 points.
export function bezier(a, b, segments = 16) {
  const dz = (b[2] - a[2]) / 2;
  const p1 = [a[0], a[1], a[2] + dz], p2 = [b[0], b[1], b[2] - dz];
  const points = [];
  for (let i = 0; i <= segments; i++) {
    const t = i / segments, u = 1 - t;
    const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    points.push([0, 1, 2].map((k) => w[0] * a[k] + w[1] * p1[k] + w[2] * p2[k] + w[3] * b[k]));
  }
  return points;
}

export function layoutNetwork(architecture) {
  const layers = architecture.map(sized);
  const stageIds = [...new Set(layers.map((l) => l.stage))].sort((a, b) => a - b);
  const byStage = new Map(stageIds.map((s) => [s, layers.filter((l) => l.stage === s).sort((a, b) => a.lane - b.lane)]));

  // A lane is as wide as its widest layer in stages of several layers, plus a margin.
  const laneWidth = new Map();
  for (const members of byStage.values()) {
    if (members.length < 2) continue;
    for (const l of members) laneWidth.set(l.lane, Math.max(laneWidth.get(l.lane) || 0, l.width));
  }
  const lanes = [...new Set(layers.map((l) => l.lane))].sort((a, b) => a - b);
  const laneLeft = new Map();
  let left = 0;
  for (const lane of lanes) { laneLeft.set(lane, left); left += (laneWidth.get(lane) || 0) + LANE_MARGIN; }

  // Across: by lane, then the stage centred on x = 0; info panels half as wide as the stage before.
  const stageWidth = new Map();
  let previous = MIN_LAYER_WIDTH * 2;
  for (const s of stageIds) {
    const members = byStage.get(s);
    for (const l of members) {
      if (l.kind === "info") l.width = Math.max(MIN_LAYER_WIDTH, previous / 2);
      l.x = members.length > 1 ? laneLeft.get(l.lane) + (laneWidth.get(l.lane) || l.width) / 2 : 0;
    }
    const lo = Math.min(...members.map((l) => l.x - l.width / 2)), hi = Math.max(...members.map((l) => l.x + l.width / 2));
    for (const l of members) l.x -= (lo + hi) / 2;
    stageWidth.set(s, hi - lo);
    if (members.some((l) => l.kind !== "info")) previous = hi - lo;
  }

  // Along: consecutive stages max(width of the two) apart, clamped.
  let z = 0;
  const stages = stageIds.map((s, i) => {
    if (i > 0) {
      const gap = Math.max(stageWidth.get(stageIds[i - 1]), stageWidth.get(s));
      z -= Math.min(MAX_STAGE_GAP, Math.max(MIN_STAGE_GAP, gap));
    }
    for (const l of byStage.get(s)) l.z = z;
    return { stage: s, z, width: stageWidth.get(s) };
  });
  for (const l of layers) {
    l.y = l.kind === "info" ? INFO_HEIGHT : FLOOR_TO_LAYER + l.height / 2;
  }

  const byPos = new Map(layers.map((l) => [`${l.stage},${l.lane}`, l]));
  const edges = [];
  architecture.forEach((layer, id) => {
    for (const pos of layer.precursors) {
      const from = byPos.get(`${pos[0]},${pos[1]}`);
      if (!from) continue;
      const to = layers[id];
      edges.push({ from: from.id, to: id, points: bezier(anchor(from), anchor(to)) });
    }
  });

  const first = stages[0];
  const inputFrame = { x: -(first.width / 2 + 0.45), y: 1.45, z: first.z + INPUT_FRAME_GAP, size: 0.6 };
  // The first view: behind the input frame and the panels, a little above eye height, down the network.
  const start = { position: [0, 2.5, first.z + 6.2], target: [0, 1.5, first.z - 3], vr: [0, 0, first.z + 2.9] };
  return { layers, edges, stages, inputFrame, start, depth: -z };
}

// Where edges meet a layer: the middle of its lower half (below the eye, visible between stages).
function anchor(l) {
  return [l.x, l.kind === "info" ? l.y - l.height / 2 : FLOOR_TO_LAYER + Math.min(0.3, l.height / 4), l.z];
}

// Tile index under a point of the layer's quad (uv in 0..1, v up), or -1 in the gaps/unused tiles.
export function tileAt(layer, u, v) {
  const col = Math.floor(u * layer.cols), row = Math.floor((1 - v) * layer.rows);
  const index = row * layer.cols + col;
  return col >= 0 && col < layer.cols && row >= 0 && index < layer.channels ? index : -1;
}
