"""The dvvr Jupyter server extension: routes, settings, and which kernel a
VR request goes to.

A headset on the LAN needs Jupyter itself reachable::

    jupyter lab --ip=0.0.0.0 --ServerApp.allow_remote_access=True \\
        --certfile=cert.pem --keyfile=key.pem   # TLS: the VR URL is a capability

then type the URL ``%dvvr url`` prints (``{base_url}dvvr/vr/<token>/``)
into the VR client.
"""

from __future__ import annotations

import time

from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Float, Int

from ..bridge import registry
from ..bridge.token import TokenStore, redact

NO_SESSION = "no dvvr session is active — run %load_ext dvvr in a notebook"


class DvvrExtension(ExtensionApp):
    name = "dvvr"
    load_other_extensions = True

    connect_timeout = Float(
        1.0,
        config=True,
        help="Seconds to reach a kernel's dvvr server; beyond it the VR "
        "client gets 503 at once instead of waiting on a dead kernel.",
    )
    request_timeout = Float(
        900.0,
        config=True,
        help="Seconds one VR request may take in the kernel (feature visualizations of a big layer take minutes).",
    )
    max_clients = Int(
        64, config=True, help="Concurrent requests forwarded to kernels (the VR client sends dozens at once)."
    )
    client_window = Float(
        60.0, config=True, help="A VR client counts as connected this many seconds after its last request."
    )

    def initialize_settings(self):
        self.tokens = TokenStore()
        self._http = None
        self._seen: dict[str, dict[str, float]] = {}  # kernel id -> {client address: last request}
        self._registry = registry.Snapshot()
        self.settings["dvvr"] = self
        registry.remove_dead()
        self.log.info(
            "dvvr: VR URL %sdvvr/vr/%s/ (token file %s)",
            self.serverapp.base_url,
            redact(self.tokens.current()),
            "<jupyter data dir>/dvvr/vr-token",
        )

    def initialize_handlers(self):
        from .handlers import PageHandler, SessionsHandler, VRHandler

        self.handlers.extend(
            [
                (r"/dvvr/vr/([^/]+)/(.*)", VRHandler),
                (r"/dvvr/api/sessions", SessionsHandler),
                (r"/dvvr/?", PageHandler),
            ]
        )

    # --- forwarding --------------------------------------------------------------
    @property
    def http(self):
        # Created on first use, on the running loop; a private client because
        # the shared one allows 10 requests at once and times out the queue.
        if self._http is None:
            from tornado.httpclient import AsyncHTTPClient

            try:  # libcurl keeps connections to the kernel alive: ~1 ms less per request
                from tornado.curl_httpclient import CurlAsyncHTTPClient

                self._http = CurlAsyncHTTPClient(force_instance=True, max_clients=self.max_clients)
            except ImportError:
                self._http = AsyncHTTPClient(force_instance=True, max_clients=self.max_clients)
        return self._http

    def live(self, entry: dict) -> bool:
        """Is the kernel behind ``entry`` one of ours, running, and the
        process that wrote it?"""
        kernels = self.serverapp.kernel_manager
        kernel_id = entry["kernel_id"]
        if kernel_id not in kernels:
            return False  # shut down, or another server's kernel
        state = getattr(kernels.get_kernel(kernel_id), "execution_state", None)
        if state in ("dead", "restarting"):
            return False
        return registry.pid_alive(entry["pid"])

    def live_entries(self) -> list[dict]:
        entries, _ = self._registry.read()
        return [entry for entry in entries if self.live(entry)]

    def resolve(self, name: str | None = None) -> dict:
        """The target of a VR request: the session ``name`` (name or kernel
        id), else the active kernel, else the newest live one."""
        live = self.live_entries()
        if name is not None:
            for entry in live:
                if name in (entry.get("name"), entry["kernel_id"]):
                    return entry
            names = ", ".join(sorted(str(e.get("name")) for e in live)) or "none"
            raise web.HTTPError(
                503,
                f"no dvvr session named {name!r} is running — run %load_ext dvvr in its "
                f"notebook (running sessions: {names})",
                reason="No dvvr session",
            )
        _, active = self._registry.read()
        for entry in live:
            if entry["kernel_id"] == active:
                return entry
        if live:
            return live[0]
        raise web.HTTPError(503, NO_SESSION, reason="No dvvr session")

    def saw(self, kernel_id: str, address: str) -> None:
        self._seen.setdefault(kernel_id, {})[address] = time.monotonic()

    def clients(self, kernel_id: str) -> list[str]:
        cutoff = time.monotonic() - self.client_window
        seen = self._seen.get(kernel_id, {})
        return sorted(address for address, t in seen.items() if t >= cutoff)

    async def stop_extension(self):
        if self._http is not None:
            self._http.close()
            self._http = None
