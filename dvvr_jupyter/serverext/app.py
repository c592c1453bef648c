"""The dvvr Jupyter server extension: settings, routes and the HTTP client
that forwards VR requests to kernels.

A headset on the LAN needs Jupyter itself reachable::

    jupyter lab --ip=0.0.0.0 --ServerApp.allow_remote_access=True \\
        --certfile=cert.pem --keyfile=key.pem   # TLS: the VR URL is a capability

then type the URL ``%dvvr url`` prints (``{base_url}dvvr/vr/<token>/``)
into the VR client.
"""

from __future__ import annotations

import logging

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int

from ..bridge import redact, registry
from ..bridge.throttle import WrongTokenThrottle
from ..bridge.token import TokenStore
from .explorer import ExplorerHandler
from .pages import PageHandler, SessionsHandler
from .proxy import HIDDEN, WRONG_TOKEN, VRHandler
from .routing import KernelRouter
from .shares import Shares
from .store import AnswerStore

LOGGERS = ("tornado.access", "tornado.application", "tornado.general", "tornado.curl_httpclient")


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
        256,
        config=True,
        help="Connections to kernels at once (the HTTP client's pool). Larger than one kernel's shares "
        "together, so no kernel can fill it.",
    )
    share_slots = Int(
        32,
        config=True,
        help="Requests one kernel serves at once per kind (VR quick routes, VR slow routes, VR event polls, "
        "explorer); "
        "more wait in line.",
    )
    share_waiting = Int(
        512,
        config=True,
        help="Requests that may wait in line for one kernel's share; beyond, 503 with Retry-After.",
    )
    share_wait = Float(
        60.0,
        config=True,
        help="Seconds a quick VR or explorer request may wait in line (slow ones: request_timeout); then 503.",
    )
    answer_store_mb = Float(
        128.0,
        config=True,
        help="Megabytes of kernels' answers the server keeps and answers again itself while the view still shows "
        "the result they were built from (activations, histograms, classifications: a switch back to an input "
        "needs no request to the kernel); 0 forwards every request.",
    )
    client_window = Float(
        60.0, config=True, help="A VR client counts as connected this many seconds after its last request."
    )

    def initialize_settings(self):
        # Whatever logs in this process (Jupyter's access log, tornado, libcurl's debug
        # output), a VR path's token and a kernel's secret header come out hidden.
        # The literal token and every registered kernel's secret, wherever a record quotes them
        # (a typo of the VR path, a token used as a name, a header tornado could not parse).
        self.tokens = TokenStore()
        self.throttle = WrongTokenThrottle(self.log, wrong=WRONG_TOKEN)
        self.router = KernelRouter(self.serverapp.kernel_manager, self.client_window, self.log)
        self._log_filter = redact.install(
            patterns=[redact.VR_PATH_TOKEN, redact.SECRET_HEADER_VALUE],
            loggers=(self.serverapp.log.name, self.log.name, *LOGGERS),
            provider=self._secrets_now,
            handlers_of=("", self.serverapp.log.name, *LOGGERS),
        )
        self._http = None
        waiting = self.share_waiting
        self.shares = Shares({"vr": (self.share_slots, waiting, self.share_wait),
                              "vr-slow": (self.share_slots, waiting, self.request_timeout),
                              "vr-events": (self.share_slots, waiting, self.share_wait),
                              "explorer": (self.share_slots, waiting, self.share_wait)})
        self.store = AnswerStore(int(self.answer_store_mb * 1e6))
        self.settings["dvvr"] = self
        registry.remove_dead()
        self.log.info(
            "dvvr: VR URL %sdvvr/vr/%s/ (%%dvvr url in a notebook prints it; the token is in "
            "<jupyter data dir>/dvvr/vr-token)",
            self.serverapp.base_url,
            HIDDEN,
        )

    def _secrets_now(self) -> list[str]:
        """The token (as given and as a URL carries it) and the registered kernels' secrets:
        one stat each for the token file and the registry folder, re-read only when they change."""
        token = self.tokens.current()
        entries, _ = self.router.registry.read()
        return [token, token and redact.url_segment(token), *(entry.get("secret") for entry in entries)]

    def initialize_handlers(self):
        self.handlers.extend(
            [
                # "/?": a URL typed without its last slash still reaches VRHandler,
                # which keeps the token out of the access log
                (r"/dvvr/vr/([^/]+)/?(.*)", VRHandler),
                (r"/dvvr/api/sessions", SessionsHandler),
                (r"/dvvr/api/explorer/([^/]+)/(.*)", ExplorerHandler),
                (r"/dvvr/?", PageHandler),
            ]
        )

    @property
    def http(self):
        # Created on first use, on the running loop; a private client because
        # the shared one allows 10 requests at once and times out the queue.
        if self._http is None:
            from tornado.httpclient import AsyncHTTPClient

            try:  # libcurl keeps connections to the kernel alive: ~1 ms less per request
                from tornado.curl_httpclient import CurlAsyncHTTPClient

                # At DEBUG, tornado turns on libcurl's verbose output, which logs
                # every request header: the kernels' secrets too.
                curl_log = logging.getLogger("tornado.curl_httpclient")
                curl_log.setLevel(max(curl_log.getEffectiveLevel(), logging.INFO))
                self._http = CurlAsyncHTTPClient(force_instance=True, max_clients=self.max_clients)
            except ImportError:
                self._http = AsyncHTTPClient(force_instance=True, max_clients=self.max_clients)
        return self._http

    async def stop_extension(self):
        redact.remove(self._log_filter)
        # This server shuts its kernels down next; one killed there (a second
        # Ctrl+C) never runs its atexit: its registration file goes now.
        for kernel_id in list(getattr(self.serverapp.kernel_manager, "list_kernel_ids", list)()):
            registry.remove_entry(kernel_id)
        if self._http is not None:
            # libcurl's timer callbacks of requests still in flight would fire on
            # a closed client (an ERROR traceback at exit): leave it to the exiting process then
            in_flight = len(getattr(self._http, "_curls", ())) - len(getattr(self._http, "_free_list", ()))
            if in_flight <= 0:
                self._http.close()
            self._http = None
