// protocol.js: every request the 3D client makes, relative to the VR URL it
// is served under (<VR URL>xr/ -> base <VR URL>), so the token, the Jupyter
// proxy path and a headset's own view h/<name>/ all carry over. Counts the
// bytes received (window.dvvr.bytes, the switch benchmark).

export class Protocol {
  constructor(base = new URL("../", location.href).href) {
    this.base = base;
    this.bytes = 0;
  }

  async fetch(resource, init = {}) {
    const response = await fetch(this.base + resource, { cache: "no-store", ...init });
    if (!response.ok) {
      let message = `${response.status}`;
      try { message = (await response.json()).message || message; } catch { /* not JSON */ }
      const error = new Error(`${init.method || "GET"} ${resource}: ${message}`);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  async json(resource, init) {
    const response = await this.fetch(resource, init);
    const text = await response.text();
    this.bytes += text.length;
    return JSON.parse(text);
  }

  put(resource, body = "dummy", init = {}) {
    return this.json(resource, { method: "PUT", body: typeof body === "string" ? body : JSON.stringify(body), ...init });
  }

  counts() { return this.json("network"); }
  architecture(n) { return this.json(`network/${n}`); }
  datasetPage(d) { return this.json(`dataset/${d}/images`); }
  noiseImage(g) { return this.json(`noiseimage/${g}`); }
  classification(n) { return this.json(`network/${n}/classificationresult`); }
  histogram(n, kind, layer) { return this.json(`network/${n}/${kind}histogram/layerid/${layer}`); }
  featvisProgress(n) { return this.json(`network/${n}/featurevisualization/progress`); }
  featvis(n, layer, init) { return this.json(`network/${n}/featurevisualization/layerid/${layer}`, init); }
  loadFeatvis(n) { return this.put(`network/${n}/setnetworkloadfeatvis`); }

  // The current input of this view: picture, description, result key (null where the server has no such route).
  async input(n) {
    try { return await this.json(`network/${n}/input`); } catch (error) {
      if (error.status === 404) return null;
      throw error;
    }
  }

  // ActivationImage as the Unity client writes it; fields a mode does not need are 0.
  prepareForInput(n, choice) {
    const body = { networkID: n, datasetID: 0, noiseGeneratorID: 0, imageID: 0, layerID: 0, channelID: 0,
                   className: "", mode: 1, isRGB: true, zeroValue: 0.0, nDim: 2, tex: null, ...choice };
    return this.put(`network/${n}/prepareforinput`, body);
  }

  // One layer's channels as one grayscale atlas: {pixels: ImageBitmap|canvas, meta} (meta from
  // X-Dvvr-Atlas). A server without the atlas route (the original one): built from the per-channel PNGs.
  async atlas(n, layer, signal) {
    let response;
    try {
      response = await this.fetch(`network/${n}/atlas/layerid/${layer}`, { signal });
    } catch (error) {
      if (error.status === 404 && !this.atlasRoute) return this.atlasFromChannels(n, layer);
      throw error;
    }
    this.atlasRoute = true;
    const meta = JSON.parse(response.headers.get("X-Dvvr-Atlas"));
    const blob = await response.blob();
    this.bytes += blob.size;
    return { meta, pixels: await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" }) };
  }

  async atlasFromChannels(n, layer) {
    const answer = await this.json(`network/${n}/activation/layerid/${layer}`);
    const tiles = await Promise.all(answer.tensors.map(decodePng));
    const channels = tiles.length, cols = Math.ceil(Math.sqrt(channels)), rows = Math.ceil(channels / cols);
    const w = tiles[0].width, h = tiles[0].height;
    const canvas = new OffscreenCanvas(cols * w, rows * h);
    const ctx = canvas.getContext("2d");
    tiles.forEach((tile, i) => ctx.drawImage(tile, (i % cols) * w, Math.floor(i / cols) * h));
    return { meta: { channels, cols, rows, tileWidth: w, tileHeight: h, zeroValue: answer.zeroValue, result: null },
             pixels: canvas };
  }

  // Long-poll: events after `since` ({seq, events, reset?}); waits up to 25 s on the server.
  events(since, signal) { return this.json(`events/${since}`, { signal }); }
}

// A base64 PNG as an ImageBitmap.
export async function decodePng(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return createImageBitmap(new Blob([bytes], { type: "image/png" }));
}
