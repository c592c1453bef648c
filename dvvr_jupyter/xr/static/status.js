// status.js: window.dvvr, a read-only view of the client's state for tests
// and debugging (README "The 3D client"): assignments to it are ignored.

export function makeState() {
  return {
    ready: false, network: null, layers: 0, maps: 0, drawCalls: 0, textureBytes: 0, input: "", presenting: false,
    fps: 0, result: null, refreshes: 0, selected: null, lastSwitch: null, featvis: [], featvisProgress: {},
    error: null, bytes: 0, frameMs: 0, frames: 0, shown: {},
  };
}

export function exposeStatus(state, extras) {
  const status = {};
  for (const key of Object.keys(state)) {
    Object.defineProperty(status, key, { get: () => state[key], enumerable: true });
  }
  for (const [key, value] of Object.entries(extras)) Object.defineProperty(status, key, { value, enumerable: false });
  return Object.freeze(status);
}
