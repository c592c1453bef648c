// main.js: the renderer, the scene, one animation loop (renderer.setAnimationLoop,
// the loop WebXR needs), the "Enter VR" button and window.dvvr.

import * as THREE from "three";
import { VRButton } from "three/addons/webxr/VRButton.js";
import { XRApp } from "./app.js";
import { Controls } from "./controls.js";
import { Live } from "./live.js";
import { Protocol } from "./protocol.js";
import { markChanged, takeChanged } from "./redraw.js";
import { exposeStatus, makeState } from "./status.js";

const state = makeState();
const protocol = new Protocol();
const messages = document.getElementById("message");

const software = softwareRendering();
const renderer = new THREE.WebGLRenderer({ antialias: !software });
renderer.setPixelRatio(software ? 1 : Math.min(devicePixelRatio, 2));
renderer.setSize(innerWidth, innerHeight);
renderer.xr.enabled = true;
renderer.xr.setReferenceSpaceType("local-floor");
renderer.info.autoReset = true;
document.body.appendChild(renderer.domElement);

const scene = new THREE.Scene();
scene.background = new THREE.Color(0x10141b);
scene.add(floor());
const rig = new THREE.Group(); // moved by locomotion in VR; the desktop camera moves inside it
rig.name = "rig";
scene.add(rig);
const camera = new THREE.PerspectiveCamera(60, innerWidth / innerHeight, 0.05, 400);
rig.add(camera);

const app = new XRApp(protocol, scene, state);
const controls = new Controls({
  camera, renderer, rig, scene,
  pickables: () => [...(app.view ? app.view.pickables() : []), ...Object.values(app.panels).map((p) => p.mesh)],
  onSelect: (hit) => app.onSelect(hit).catch(fail),
  onSummon: () => summonDashboard(),
});
app.onNetwork = (layout) => { if (!renderer.xr.isPresenting) controls.setView(layout.start.position, layout.start.target); };

document.body.appendChild(VRButton.createButton(renderer));
renderer.xr.addEventListener("sessionstart", () => {
  state.presenting = true;
  controls.enterXR(app.layout?.start);
  if (app.layout) summonAtRig();
});
renderer.xr.addEventListener("sessionend", () => {
  state.presenting = false;
  controls.exitXR();
  if (app.layout) app.placePanels();
  markChanged();
});

addEventListener("resize", () => {
  camera.aspect = innerWidth / innerHeight;
  camera.updateProjectionMatrix();
  renderer.setSize(innerWidth, innerHeight);
  markChanged();
});

// The dataset page and the classification at arm's length in front of the viewer (key M, or a grip).
function summonDashboard() {
  const eye = renderer.xr.isPresenting ? renderer.xr.getCamera() : camera;
  const position = new THREE.Vector3(), forward = new THREE.Vector3();
  eye.getWorldPosition(position);
  eye.getWorldDirection(forward);
  app.summon(position, Math.atan2(-forward.x, -forward.z));
}

// Entering VR: the panels wait at arm's length where the headset starts (standing eye height).
function summonAtRig() {
  app.summon(rig.localToWorld(new THREE.Vector3(0, 1.6, 0)), rig.rotation.y);
}
addEventListener("keydown", (e) => { if (e.code === "KeyM" && app.layout) summonDashboard(); });

// On the desktop a frame is drawn only when something changed (a moving camera, a new
// texture, a panel): a still view costs nothing. In VR every frame is drawn.
let last = performance.now(), frames = 0, fpsSince = last, needsFrame = true;
const lastView = new THREE.Matrix4();
renderer.setAnimationLoop(() => {
  const now = performance.now();
  controls.update(Math.min(0.1, (now - last) / 1000));
  last = now;
  camera.updateMatrixWorld();
  if (!lastView.equals(camera.matrixWorld)) { lastView.copy(camera.matrixWorld); needsFrame = true; }
  if (takeChanged() || needsFrame || renderer.xr.isPresenting) {
    needsFrame = false;
    const began = performance.now();
    renderer.render(scene, camera);
    state.drawCalls = renderer.info.render.calls;
    state.frameMs = Math.round(performance.now() - began);
    app.frameRendered();
  }
  frames += 1;
  state.frames += 1;
  state.bytes = protocol.bytes;
  if (now - fpsSince >= 1000) { state.fps = Math.round((frames * 1000) / (now - fpsSince)); frames = 0; fpsSince = now; }
});

// Where a thing is: screen pixels (desktop) and rig-local metres (what a controller aims at), for tests.
function locate(id) {
  let object = null, local = null;
  const [kind, arg] = id.split(":");
  if (kind === "layer") {
    object = app.view?.meshes.get(Number(arg));
    local = new THREE.Vector3();
  } else {
    for (const panel of Object.values(app.panels)) {
      const centre = panel.regionCentre(id);
      if (centre) { object = panel.mesh; local = centre; break; }
    }
  }
  if (!object) return null;
  object.updateWorldMatrix(true, false);
  camera.updateMatrixWorld(); // the view may have moved since the last frame (lookAt)
  camera.matrixWorldInverse.copy(camera.matrixWorld).invert();
  const world = local.clone().applyMatrix4(object.matrixWorld);
  const inRig = rig.worldToLocal(world.clone());
  const ndc = world.clone().project(camera);
  return { world: world.toArray(), rig: inRig.toArray(),
           screen: [(ndc.x + 1) / 2 * innerWidth, (1 - ndc.y) / 2 * innerHeight], visible: Math.abs(ndc.z) < 1 };
}

// Point the desktop camera at something (tests and screenshots): from `distance` metres in front of
// it, `side` metres to its right and `up` metres above.
function lookAt(id, distance = 2.5, side = 0, up = 0) {
  const spot = locate(id);
  if (!spot) return false;
  const target = new THREE.Vector3(...spot.world);
  const object = id.startsWith("layer") ? app.view.meshes.get(Number(id.split(":")[1])) : Object.values(app.panels).find((p) => p.regionCentre(id))?.mesh;
  const turn = object.getWorldQuaternion(new THREE.Quaternion());
  const from = target.clone().add(new THREE.Vector3(side, up, distance).applyQuaternion(turn));
  controls.setView(from.toArray(), target.toArray());
  return true;
}

window.dvvr = exposeStatus(state, { locate, lookAt });

function fail(error) {
  console.error(error);
  state.error = String(error.message || error);
  messages.textContent = state.error;
  messages.hidden = false;
}

app.start().then(() => {
  messages.hidden = true;
  const live = new Live(protocol, (event) => app.handleEvent(event), () => app.showNetwork(app.network));
  app.live = live;
  live.run();
}, fail);

// A CPU rasteriser (SwiftShader, llvmpipe: no GPU, a test machine) draws without multisampling.
function softwareRendering() {
  const gl = document.createElement("canvas").getContext("webgl2");
  const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
  const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
  gl?.getExtension("WEBGL_lose_context")?.loseContext();
  return /swiftshader|llvmpipe|software/i.test(name);
}

function floor() {
  const grid = new THREE.GridHelper(400, 200, 0x2a3342, 0x1c232e);
  grid.position.y = 0;
  return grid;
}
