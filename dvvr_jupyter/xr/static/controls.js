// controls.js: moving and pointing. Desktop: orbit with the mouse (left drag
// turns, right drag pans, wheel zooms), fly with W/A/S/D (Q/E down/up, Shift
// faster), click to select. VR: a ray from each controller selects with the
// trigger (the same handler as the mouse), the left thumbstick walks where
// you look, the right one turns in steps, the grip brings the panels to you.

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const FLY_SPEED = 2.5; // m/s
const WALK_SPEED = 2.0;
const TURN_STEP = Math.PI / 6;
const CLICK_SLOP = 6; // pixels a click may move and still select

export class Controls {
  constructor({ camera, renderer, rig, scene, pickables, onSelect, onSummon }) {
    Object.assign(this, { camera, renderer, rig, scene, pickables, onSelect, onSummon });
    this.raycaster = new THREE.Raycaster();
    this.orbit = new OrbitControls(camera, renderer.domElement);
    this.orbit.enableDamping = false;
    this.keys = new Set();
    this.turnLatch = false;
    const canvas = renderer.domElement;
    canvas.tabIndex = 0;
    addEventListener("keydown", (e) => { if (!e.target.closest?.("input,textarea")) this.keys.add(e.code); });
    addEventListener("keyup", (e) => this.keys.delete(e.code));
    addEventListener("blur", () => this.keys.clear());
    canvas.addEventListener("pointerdown", (e) => { this.down = [e.clientX, e.clientY]; });
    canvas.addEventListener("pointerup", (e) => {
      if (!this.down || Math.hypot(e.clientX - this.down[0], e.clientY - this.down[1]) > CLICK_SLOP) return;
      const rect = canvas.getBoundingClientRect();
      const ndc = new THREE.Vector2(((e.clientX - rect.left) / rect.width) * 2 - 1, -((e.clientY - rect.top) / rect.height) * 2 + 1);
      camera.updateMatrixWorld();
      this.raycaster.setFromCamera(ndc, camera);
      this.onSelect(this.firstHit());
    });
    this.controllers = [0, 1].map((i) => this.controller(i));
  }

  setView(position, target) {
    this.camera.position.set(...position);
    this.orbit.target.set(...target);
    this.orbit.update();
  }

  controller(i) {
    const controller = this.renderer.xr.getController(i);
    const ray = new THREE.Line(new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(), new THREE.Vector3(0, 0, -1)]),
                               new THREE.LineBasicMaterial({ color: 0xffd21a }));
    ray.scale.z = 6;
    ray.name = "ray";
    controller.add(ray);
    controller.addEventListener("connected", (e) => { controller.userData.source = e.data; });
    controller.addEventListener("disconnected", () => { controller.userData.source = null; });
    controller.addEventListener("select", () => {
      this.aim(controller);
      this.onSelect(this.firstHit());
    });
    controller.addEventListener("squeeze", () => this.onSummon());
    this.rig.add(controller);
    return controller;
  }

  aim(controller) {
    controller.updateMatrixWorld(true);
    const matrix = new THREE.Matrix4().extractRotation(controller.matrixWorld);
    this.raycaster.ray.origin.setFromMatrixPosition(controller.matrixWorld);
    this.raycaster.ray.direction.set(0, 0, -1).applyMatrix4(matrix);
  }

  firstHit() {
    const hits = this.raycaster.intersectObjects(this.pickables().filter((o) => o.visible), false);
    // A panel drawn over the scene takes the ray where it has a button or picture; elsewhere the ray goes on
    const onTop = hits.find((hit) => hit.object.userData.onTop && hit.object.userData.panel.hit(hit.uv));
    return onTop || hits.find((hit) => !hit.object.userData.onTop) || null;
  }

  // Per frame: keys on the desktop, thumbsticks in VR; rays end where they hit.
  update(dt) {
    if (this.renderer.xr.isPresenting) return this.updateXR(dt);
    const move = new THREE.Vector3();
    const forward = new THREE.Vector3();
    this.camera.getWorldDirection(forward);
    const right = new THREE.Vector3().crossVectors(forward, this.camera.up).normalize();
    if (this.keys.has("KeyW") || this.keys.has("ArrowUp")) move.add(forward);
    if (this.keys.has("KeyS") || this.keys.has("ArrowDown")) move.sub(forward);
    if (this.keys.has("KeyD") || this.keys.has("ArrowRight")) move.add(right);
    if (this.keys.has("KeyA") || this.keys.has("ArrowLeft")) move.sub(right);
    if (this.keys.has("KeyE")) move.y += 1;
    if (this.keys.has("KeyQ")) move.y -= 1;
    if (move.lengthSq() > 0) {
      move.normalize().multiplyScalar(FLY_SPEED * dt * (this.keys.has("ShiftLeft") || this.keys.has("ShiftRight") ? 3 : 1));
      this.camera.position.add(move);
      this.orbit.target.add(move);
    }
    this.orbit.update();
  }

  updateXR(dt) {
    for (const controller of this.controllers) {
      const source = controller.userData.source;
      const ray = controller.getObjectByName("ray");
      this.aim(controller);
      const hit = this.firstHit();
      ray.scale.z = hit ? hit.distance : 6;
      const axes = source?.gamepad?.axes;
      if (!axes || axes.length < 4) continue;
      const [x, y] = [axes[2], axes[3]];
      if (source.handedness === "left" && Math.hypot(x, y) > 0.15) {
        const forward = new THREE.Vector3();
        this.renderer.xr.getCamera().getWorldDirection(forward);
        forward.y = 0;
        forward.normalize();
        const right = new THREE.Vector3(-forward.z, 0, forward.x);
        this.rig.position.addScaledVector(forward, -y * WALK_SPEED * dt).addScaledVector(right, x * WALK_SPEED * dt);
      } else if (source.handedness === "right") {
        if (Math.abs(x) > 0.7 && !this.turnLatch) { this.rig.rotation.y -= Math.sign(x) * TURN_STEP; this.turnLatch = true; }
        if (Math.abs(x) < 0.3) this.turnLatch = false;
      }
    }
  }

  // Entering VR: the rig goes where the desktop camera stood, facing the same way; leaving: back.
  // From the desktop's first view, VR starts on the way in, between the panels.
  enterXR(start) {
    this.desktop = { position: this.camera.position.clone(), target: this.orbit.target.clone() };
    const atStart = start && this.camera.position.distanceTo(new THREE.Vector3(...start.position)) < 0.01;
    const position = atStart ? new THREE.Vector3(...start.vr) : this.camera.position;
    const look = atStart ? new THREE.Vector3(0, 0, -1) : this.orbit.target.clone().sub(this.camera.position);
    this.rig.position.set(position.x, 0, position.z);
    this.rig.rotation.set(0, Math.atan2(-look.x, -look.z), 0);
    this.orbit.enabled = false;
  }

  exitXR() {
    this.rig.position.set(0, 0, 0);
    this.rig.rotation.set(0, 0, 0);
    this.orbit.enabled = true;
    if (this.desktop) this.setView(this.desktop.position.toArray(), this.desktop.target.toArray());
  }
}
