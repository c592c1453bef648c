"""The explorer widget's HTTP route on the kernel's own loopback server.

The browser reaches them through the Jupyter server's authenticated route
``{base_url}dvvr/api/explorer/<kernel id>/<path>`` (``serverext/explorer.py``),
forwarded here as ``/explorer/<path>``, and answered by the kernel service's
``ExplorerRequests`` (``explore/requests.py``) on its own threads, not on
the kernel's shell: clicks and images keep flowing while a cell runs.  Like everything on this server they
need the kernel's secret, and also the explorer header that only the
authenticated route sets: the VR capability URL's forwarder never sets it,
so the VR path cannot reach them.

Re-tracking traces the model with torch.fx, which patches
``nn.Module.__call__`` process-wide, so it is scheduled on the kernel's main
thread (``on_main_thread``): it runs when no cell is running.
"""

from __future__ import annotations

import asyncio
import threading

import tornado.web

from ..bridge.answers import JSONErrors
from ..bridge.headers import EXPLORER_HEADER, check_secret
from ..bridge.limits import LimitedBody
from ..errors import DvvrError, NotFound


@tornado.web.stream_request_body  # the secret and the size are checked from the headers, before any body is read
class ExplorerRouteHandler(JSONErrors, LimitedBody, tornado.web.RequestHandler):
    """``/explorer/<path>``: the answers of an ``ExplorerRequests``."""

    def initialize(self, requests, secret: str):
        self.requests = requests
        self.secret = secret

    def prepare(self):
        check_secret(self.request.headers, self.secret)
        if self.request.headers.get(EXPLORER_HEADER) != "1":
            raise NotFound(f"no such resource: {self.request.method} {self.request.path}")
        self.refuse_unread()

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")

    async def get(self, path):
        await self._answer("GET", path)

    async def post(self, path):
        await self._answer("POST", path)

    async def _answer(self, method: str, path: str) -> None:
        reply = await asyncio.wrap_future(self.requests.submit(method, path, self.body))
        self.set_status(reply.status)
        self.set_header("Content-Type", reply.content_type)
        self.finish(reply.body)

    def log_exception(self, typ, value, tb):
        if not isinstance(value, (DvvrError, tornado.web.HTTPError)):
            super().log_exception(typ, value, tb)


def on_main_thread(fn) -> str:
    """Run ``fn`` on the kernel's main thread, between cells: ``"queued"``
    (or ``"done"`` when called from the main thread itself, outside a kernel)."""
    if threading.current_thread() is threading.main_thread():
        fn()
        return "done"
    kernel = running_kernel()
    if kernel is None or getattr(kernel, "io_loop", None) is None:
        fn()  # no kernel loop to wait for (a script): nothing else runs user code here
        return "done"
    kernel.io_loop.add_callback(fn)
    return "queued"


def running_kernel():
    """The ipykernel this code runs in, or ``None`` (a script, plain IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)


def explorer_routes(service) -> list:
    """The rules to add to the kernel server of ``service`` (a ``KernelService``)."""
    return [(r"/explorer/(.*)", ExplorerRouteHandler, {"requests": service.explorer, "secret": service.secret})]


_qr_cache: dict[str, str] = {}


def _qr(url: str) -> str:
    """The QR code of ``url``, drawn once (the panel asks every few seconds)."""
    from .display import qr_svg

    if url not in _qr_cache:
        if len(_qr_cache) > 4:  # the URLs of an earlier server
            _qr_cache.clear()
        _qr_cache[url] = qr_svg(url, scale=2)
    return _qr_cache[url]


def connection(service) -> dict:
    """The connection panel: the VR URLs, QR codes of the one to use and of
    its 3D view, the VR clients of the last minute and seconds since the
    last VR request."""
    from .display import xr_url

    urls = service.urls()
    url = urls["vr_url"] or urls["direct_url"]
    return {**urls, "qr_svg": _qr(url) if url else None, "xr_qr_svg": _qr(xr_url(url)) if url else None,
            "clients": service.clients.recent(),
            "last_request_s": service.clients.last_request_age(), "kernel_id": service.kernel_id}
