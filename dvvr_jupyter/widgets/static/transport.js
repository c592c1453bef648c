// transport.js: how the explorer's requests reach the kernel.
// HTTP through the Jupyter server's authenticated route to the kernel's own
// server thread (answered while a cell runs); the widget's comm where no
// Jupyter server extension answers (a plain kernel, VS Code).

function jupyterConfig() {
  const el = document.getElementById("jupyter-config-data");
  if (!el) return null;
  try {
    return JSON.parse(el.textContent);
  } catch (err) {
    return null;
  }
}

function readCookie(name) {
  const match = document.cookie.match("(?:^|;)\\s*" + name + "=([^;]*)");
  return match ? match[1] : null;
}

export function parseEnvelope(buffer) {
  // <u32 little-endian length><JSON meta><payload>
  const view = new DataView(buffer);
  const length = view.getUint32(0, true);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  return { meta, payload: new Uint8Array(buffer, 4 + length) };
}

class Answer {
  constructor(status, contentType, data) {
    this.status = status;
    this.contentType = contentType || "";
    this.data = data; // ArrayBuffer
  }
  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  json() {
    return JSON.parse(new TextDecoder().decode(this.data));
  }
  error() {
    try {
      return this.json().message || `HTTP ${this.status}`;
    } catch (err) {
      return `HTTP ${this.status}`;
    }
  }
}

class HttpTransport {
  constructor(base, token) {
    this.kind = "http";
    this.base = base;
    this.token = token;
  }
  headers(method) {
    const headers = {};
    if (this.token) headers["Authorization"] = "token " + this.token;
    const xsrf = readCookie("_xsrf");
    if (method !== "GET" && xsrf) headers["X-XSRFToken"] = xsrf;
    if (method !== "GET") headers["Content-Type"] = "application/json";
    return headers;
  }
  async request(method, path, body) {
    const response = await fetch(this.base + path, {
      method,
      headers: this.headers(method),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    return new Answer(response.status, response.headers.get("Content-Type"), await response.arrayBuffer());
  }
  close() {}
}

class CommTransport {
  constructor(model) {
    this.kind = "comm";
    this.model = model;
    this.next = 1;
    this.pending = new Map();
    this.onMessage = (msg, buffers) => {
      if (!msg || msg.type !== "reply" || !this.pending.has(msg.id)) return;
      const resolve = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      const buf = buffers && buffers.length ? buffers[0] : new DataView(new ArrayBuffer(0));
      const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      resolve(new Answer(msg.status, msg.content_type, bytes));
    };
    model.on("msg:custom", this.onMessage);
  }
  request(method, path, body) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      const buffers = body === undefined ? [] : [new TextEncoder().encode(JSON.stringify(body)).buffer];
      this.model.send({ type: "request", id, method, path }, undefined, buffers);
    });
  }
  close() {
    this.model.off("msg:custom", this.onMessage);
  }
}

export async function makeTransport(model) {
  const config = jupyterConfig();
  const kernelId = model.get("kernel_id");
  if (config && kernelId && typeof config.baseUrl === "string") {
    const base = new URL(
      config.baseUrl + "dvvr/api/explorer/" + encodeURIComponent(kernelId) + "/",
      window.location.origin,
    ).href;
    const http = new HttpTransport(base, config.token);
    try {
      const answer = await http.request("GET", "ping");
      if (answer.ok) return http;
    } catch (err) {
      // no server extension here: the comm carries the requests
    }
  }
  return new CommTransport(model);
}
