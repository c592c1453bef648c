// app.js: what the client shows and when: loading a network, refreshing
// every layer after an input change, selection, feature visualizations and
// the live events. Drawing is in network.js/panels.js, requests in protocol.js.

import * as THREE from "three";
import { decodePng } from "./protocol.js";
import { layoutNetwork } from "./layout.js";
import { NetworkView } from "./network.js";
import { DatasetPanel, InputFrame, LayerPanel, TopPanel } from "./panels.js";
import { FeatureVisualizations } from "./featvis.js";
import { markChanged } from "./redraw.js";

const PAGE = 16; // the VR client's dataset page

export class XRApp {
  constructor(protocol, scene, state) {
    this.protocol = protocol;
    this.scene = scene;
    this.state = state; // the fields behind window.dvvr
    this.view = null;
    this.network = 0;
    this.generation = 0; // a refresh of an older input or network drops its answers
    this.panels = { frame: new InputFrame(), dataset: new DatasetPanel(), top: new TopPanel(), layer: new LayerPanel() };
    this.dashboard = new THREE.Group(); // dataset page and classification: brought to the viewer on request
    this.dashboard.add(this.panels.dataset.mesh, this.panels.top.mesh);
    scene.add(this.dashboard, this.panels.frame.mesh, this.panels.layer.mesh);
    this.panels.layer.mesh.visible = false;
    this.selection = null;
    this.current = null; // what this client knows of the input: {kind, index, generator}
    this.featvis = new FeatureVisualizations(this);
  }

  async start() {
    const counts = await this.protocol.counts();
    this.counts = counts;
    const [page, noise] = await Promise.all([
      counts.ndatasets ? this.protocol.datasetPage(0) : null,
      Promise.all([...Array(counts.nnoiseGenerators).keys()].map((g) => this.protocol.noiseImage(g))),
    ]);
    this.page = { images: [], labels: [] };
    if (page) {
      const shown = page.tensors.slice(0, PAGE);
      this.page.images = await Promise.all(shown.map(decodePng));
      this.page.labels = shown.map((_, i) => page.class_names[page.label_ids[i]]);
    }
    this.noise = await Promise.all(noise.map((answer) => decodePng(answer.tensor)));
    await this.showNetwork(0);
  }

  networkNames() {
    return [...Array(this.counts.nnetworks).keys()].map((n) => `network ${n}`);
  }

  async showNetwork(n) {
    const generation = ++this.generation;
    this.state.ready = false;
    this.featvis.reset();
    if (this.view) this.view.dispose(); // GPU memory of the old network goes now
    this.view = null;
    this.select(null);
    this.network = n;
    await this.protocol.loadFeatvis(n); // as the VR client: stored feature visualizations where they exist
    const answer = await this.protocol.architecture(n);
    if (generation !== this.generation) return;
    this.architecture = answer.architecture;
    this.classNames = answer.class_names;
    this.layout = layoutNetwork(answer.architecture);
    this.view = new NetworkView(this.layout);
    this.scene.add(this.view.group);
    this.placePanels();
    markChanged();
    this.state.network = n;
    this.state.layers = this.layout.layers.length;
    this.drawDataset();
    await this.refresh();
    this.onNetwork?.(this.layout);
  }

  placePanels() {
    const { inputFrame, start } = this.layout;
    this.panels.frame.mesh.position.set(inputFrame.x, inputFrame.y, inputFrame.z);
    this.panels.frame.mesh.rotation.set(0, 0.35, 0);
    // beside the way in, turned towards it: dataset page left of the input frame, classification right
    const z = inputFrame.z + 1.6, side = Math.max(1.9, -inputFrame.x + 0.9);
    this.dashboard.position.set(0, 0, 0);
    this.dashboard.rotation.set(0, 0, 0);
    for (const panel of Object.values(this.panels)) panel.mesh.scale.setScalar(1);
    this.panels.dataset.mesh.position.set(-side - 0.2, 1.45, z);
    this.panels.dataset.mesh.rotation.set(0, 0.5, 0);
    this.panels.top.mesh.position.set(side, 1.45, z);
    this.panels.top.mesh.rotation.set(0, -0.5, 0);
  }

  // The panels brought to the viewer: at arm's length, a little below the eyes, turned towards them.
  summon(eye, yaw) {
    const place = (mesh, side, turn) => {
      const offset = new THREE.Vector3(side, -0.3, -0.75).applyAxisAngle(new THREE.Vector3(0, 1, 0), yaw);
      mesh.position.copy(eye).add(offset);
      mesh.rotation.set(0, yaw + turn, 0);
      mesh.scale.setScalar(0.55);
    };
    this.dashboard.position.set(0, 0, 0);
    this.dashboard.rotation.set(0, 0, 0);
    place(this.panels.dataset.mesh, -0.38, 0.35);
    place(this.panels.top.mesh, 0.4, -0.35);
    markChanged();
  }

  // Every layer's atlas, the classification and the input picture of the current input, all at once.
  async refresh({ switchStarted = null } = {}) {
    const generation = ++this.generation, n = this.network, view = this.view;
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    const layers = this.layout.layers.filter((l) => l.kind !== "info");
    const bytesBefore = this.protocol.bytes;
    const stale = () => generation !== this.generation || view !== this.view;
    const atlases = layers.map(async (layer) => {
      if (this.featvis.showing(layer.id)) return null; // it shows its feature visualizations, not activations
      const atlas = await this.protocol.atlas(n, layer.id, abort.signal);
      if (!stale()) view.setAtlas(layer.id, atlas);
      return atlas.meta.result;
    });
    const extras = [this.protocol.classification(n), this.protocol.input(n)];
    let results, classification, input;
    try {
      [results, classification, input] = await Promise.all([Promise.all(atlases), ...extras]);
    } catch (error) {
      if (error.name === "AbortError" || stale()) return;
      throw error;
    }
    if (stale()) return;
    this.panels.top.draw(classification);
    const keys = new Set(results.filter((r) => r !== null));
    this.state.result = keys.size === 1 ? [...keys][0] : input?.result ?? null;
    if (input) {
      const current = { kind: input.kind, index: input.index, generator: input.kind === "noise" ? this.current?.generator ?? 0 : null };
      this.state.input = input.describe;
      this.panels.frame.draw(await decodePng(input.image), input.describe);
      if (inputKey(current) !== inputKey(this.current)) { this.current = current; this.drawDataset(); }
    } else {
      this.panels.frame.draw(this.localPicture(), this.state.input);
    }
    this.state.maps = view.mapsShown();
    this.state.shown = Object.fromEntries([...view.shown].map(([id, shown]) => [id, shown.result]));
    this.state.textureBytes = this.textureBytes();
    this.state.ready = true;
    this.state.refreshes += 1;
    if (this.selection) this.showDetails(this.selection);
    if (switchStarted !== null) {
      this.pendingSwitch = { began: switchStarted, bytes: this.protocol.bytes - bytesBefore + this.switchBytes, result: this.state.result,
                             chosenMs: this.chosenAt - switchStarted, loadedMs: performance.now() - switchStarted };
    }
  }

  // The picture of this client's own choice, where the server has no input route.
  localPicture() {
    const c = this.current;
    if (!c) return null;
    return c.kind === "dataset" ? this.page.images[c.index] : c.kind === "noise" ? this.noise[c.generator] : null;
  }

  // Called by the render loop after a frame: a switch counts as done once a frame showed it.
  frameRendered() {
    if (!this.pendingSwitch) return;
    const { began, bytes, result, chosenMs, loadedMs } = this.pendingSwitch;
    this.pendingSwitch = null;
    // ms: click to the first frame showing it; chosenMs: the choice answered; loadedMs: every answer in
    this.state.lastSwitch = { ms: performance.now() - began, chosenMs, loadedMs, bytes, result, n: (this.state.lastSwitch?.n || 0) + 1 };
  }

  textureBytes() {
    const panels = Object.values(this.panels).reduce((sum, p) => sum + p.bytes, 0);
    return (this.view ? this.view.textureBytes() : 0) + panels;
  }

  async choose(choice, current) {
    const began = performance.now(), bytes = this.protocol.bytes;
    this.current = current;
    this.state.input = describeChoice(current, this.page);
    this.drawDataset();
    await this.protocol.prepareForInput(this.network, choice);
    this.switchBytes = this.protocol.bytes - bytes;
    this.chosenAt = performance.now();
    this.choosing = true;
    try {
      await this.refresh({ switchStarted: began });
    } finally {
      this.choosing = false;
    }
    // an input event that came while this switch loaded: shown already, unless it was another client's later one
    const deferred = this.deferred;
    this.deferred = null;
    if (deferred && deferred.result !== this.state.result) await this.refresh();
  }

  drawDataset() {
    this.panels.dataset.draw({ page: this.page, noise: this.noise, current: this.current,
                               networks: this.networkNames(), network: this.network });
  }

  // The one select handler: mouse clicks and controller rays both end here.
  async onSelect(hit) {
    if (!hit) return this.select(null);
    const { pick } = hit.object.userData;
    if (pick === "layer") {
      const { layer, channel } = NetworkView.pick(hit);
      if (this.featvis.showing(layer.id) && channel >= 0) {
        return this.choose({ mode: 3, layerID: layer.id, channelID: channel, isRGB: true },
                           { kind: "featvis", layer: layer.id, channel });
      }
      return this.select({ layer, channel });
    }
    if (pick === "panel") {
      const region = hit.object.userData.panel.hit(hit.uv);
      if (region) return this.action(region.id);
    }
  }

  async action(id) {
    const [what, arg] = id.split(":");
    const i = Number(arg);
    if (what === "dataset") return this.choose({ mode: 1, datasetID: 0, imageID: i }, { kind: "dataset", index: i });
    if (what === "noise") return this.choose({ mode: 4, noiseGeneratorID: i }, { kind: "noise", generator: i });
    if (what === "newnoise") {
      this.noise[i] = await decodePng((await this.protocol.noiseImage(i)).tensor);
      return this.choose({ mode: 4, noiseGeneratorID: i }, { kind: "noise", generator: i });
    }
    if (what === "network") return this.showNetwork(i);
    if (what === "featvis" && this.selection) return this.featvis.toggle(this.selection.layer);
  }

  select(selection) {
    this.selection = selection;
    this.state.selected = selection ? { layer: selection.layer.id, channel: selection.channel } : null;
    this.view?.select(selection?.layer, selection?.channel);
    this.panels.layer.mesh.visible = !!selection;
    markChanged();
    if (selection) this.showDetails(selection);
  }

  async showDetails(selection) {
    const { layer } = selection;
    const n = this.network, panel = this.panels.layer.mesh;
    panel.position.set(layer.x + layer.width / 2 + 0.7, Math.max(1.5, layer.y), layer.z + 0.25);
    panel.rotation.set(0, -0.35, 0);
    const details = { ...selection, className: "", activation: null, weights: null,
                      featvis: this.featvis.progress(layer.id), showing: this.featvis.showing(layer.id) ? "featvis" : "activations" };
    if (layer.classnames && selection.channel >= 0) details.className = this.classNames[selection.channel] || "";
    if (layer.kind === "map") {
      [details.activation, details.weights] = await Promise.all([this.protocol.histogram(n, "activation", layer.id),
                                                                 this.protocol.histogram(n, "weight", layer.id)]);
    }
    if (this.selection !== selection) return;
    this.panels.layer.draw(details);
  }

  // Live: another client's input, new weights, feature-visualization progress, networks changed.
  handleEvent(event) {
    if (event.type === "networks") return this.showNetwork(Math.min(this.network, this.counts.nnetworks - 1));
    if (event.network !== this.network) return;
    if (event.type === "input" || event.type === "weights") {
      if (event.result && event.result === this.state.result) return; // already shown (this client's own choice)
      if (this.choosing) { this.deferred = event; return; }
      return this.refresh();
    }
    if (event.type === "featvis") return this.featvis.update(event.layer, event);
  }
}

// What the dataset page highlights: the same key means no redraw.
function inputKey(c) {
  return c ? `${c.kind}:${c.kind === "dataset" ? c.index : c.kind === "noise" ? c.generator : ""}` : "";
}

function describeChoice(choice, page) {
  if (choice.kind === "dataset") return `dataset image ${choice.index}: ${page.labels[choice.index] || ""}`;
  if (choice.kind === "noise") return `noise ${choice.generator}`;
  if (choice.kind === "featvis") return `feature visualization of layer ${choice.layer}, channel ${choice.channel}`;
  return "";
}
