"""``{base_url}dvvr/api/explorer/<kernel id>/<path>``: the explorer widget's
requests, forwarded to that kernel's own server thread.

Why not the widget's comm: comm messages travel on the kernel's shell
channel, which waits while a cell runs (a training loop: minutes).  This
route goes to the kernel's loopback server, answered on its own thread, so
clicks and images keep flowing.  It keeps Jupyter's auth (login cookie or
token, XSRF on POST as Jupyter's own frontends send it); errors have the
body every dvvr error has (``bridge.answers.JSONErrors``).
"""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..bridge.answers import JSONErrors
from ..bridge.headers import EXPLORER_HEADER
from ..bridge.limits import LimitedBody
from ..errors import DvvrError, NotFound
from .forward import forward_to_kernel


@web.stream_request_body  # a body over the limit is refused (413), never read into memory whole
class ExplorerHandler(JSONErrors, LimitedBody, APIHandler):
    auth_resource = "kernels"
    failure_message = "the dvvr explorer route failed on this request (see the Jupyter server log)"

    gone = None  # set when the client hangs up (``shares``)

    async def prepare(self):
        self.gone = asyncio.get_running_loop().create_future()
        await super().prepare()
        self.refuse_unread()

    def on_connection_close(self):
        if self.gone is not None and not self.gone.done():
            self.gone.set_result(None)
        super().on_connection_close()

    def finish(self, *args, **kwargs):
        # APIHandler labels every answer JSON; keep the kernel's type (PNG, binary pages)
        kwargs.setdefault("set_content_type", self._headers.get("Content-Type", "application/json"))
        return super().finish(*args, **kwargs)

    def log_exception(self, typ, value, tb):
        if isinstance(value, DvvrError):  # an answer, not a failure of the route
            self.log.info("dvvr: explorer %s %s -> %d %s", self.request.method, self.request.path, value.status,
                          value.message)
        else:
            super().log_exception(typ, value, tb)

    @web.authenticated
    @authorized(action="read")
    async def get(self, kernel_id, path):
        await self.forward(kernel_id, path)

    @web.authenticated
    @authorized(action="write")
    async def post(self, kernel_id, path):
        await self.forward(kernel_id, path)

    async def forward(self, kernel_id: str, path: str) -> None:
        ext = self.settings["dvvr"]
        entry = next((e for e in ext.router.live_entries() if e["kernel_id"] == kernel_id), None)
        if entry is None:
            raise NotFound(f"kernel {kernel_id!r} does not serve dvvr (it restarted or stopped): run the explorer's "
                           f"cell again", field="kernel_id")
        await forward_to_kernel(self, entry, f"explorer/{path}", self.body, headers={EXPLORER_HEADER: "1"},
                                share="explorer")
