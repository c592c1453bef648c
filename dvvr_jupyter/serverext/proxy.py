"""The VR path ``{base_url}dvvr/vr/<token>/[s/<session>/]<protocol path>``,
forwarded to the kernel that serves the session.

The VR client sends no cookies or Jupyter token: the token in the path is
the capability.  Only JSON is served here (the path shares the Jupyter
origin, so no HTML a browser could run), and every error answers the
kernel's own error body, ``DvvrError.to_json()``.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import DvvrError, InternalServerError, NotFound
from .forward import forward_to_kernel

#: What stands for the token in every log line.
HIDDEN = "<token>"


def error_body(exc: BaseException | None, status: int, reason: str) -> dict:
    """The JSON body of an error: the same keys the kernel's protocol app answers."""
    if isinstance(exc, DvvrError):
        return exc.to_json()
    if isinstance(exc, web.HTTPError):  # tornado's or Jupyter's own (405, 403 for a bad Host)
        message = exc.log_message % exc.args if exc.log_message else reason
        return {"error": reason, "message": message, "status": status}
    return InternalServerError("the dvvr proxy failed on this request (see the Jupyter server log)").to_json()


class VRHandler(APIHandler):
    def initialize(self):
        # Before anything can log this request: the token's path segment
        # becomes HIDDEN in the path and URI that Jupyter and tornado log.
        prefix = url_path_join(self.base_url, "dvvr/vr/")
        for attr in ("path", "uri"):
            value = getattr(self.request, attr)
            if value.startswith(prefix):
                _, slash, rest = value[len(prefix) :].partition("/")
                setattr(self.request, attr, f"{prefix}{HIDDEN}{slash}{rest}")

    def check_xsrf_cookie(self):
        """No XSRF check on this handler only: the client cannot send the
        cookie, and the path's token already proves the sender knows the URL."""

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = error_body(exc, status_code, self._reason)
        self.set_status(body["status"])
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def log_exception(self, typ, value, tb):
        if isinstance(value, DvvrError):  # an answer, not a failure of the proxy
            self.log.info("dvvr: VR %s %s -> %d %s", self.request.method, self.request.path, value.status, value.message)
        else:
            super().log_exception(typ, value, tb)

    @allow_unauthenticated
    async def get(self, token, path):
        await self.forward(token, path)

    @allow_unauthenticated
    async def put(self, token, path):
        await self.forward(token, path)

    @allow_unauthenticated
    async def post(self, token, path):
        await self.forward(token, path)

    async def forward(self, token: str, path: str) -> None:
        ext = self.settings["dvvr"]
        if not ext.tokens.matches(token):
            raise NotFound(
                "no such VR URL: %dvvr url in a notebook prints the current one (it changes with %dvvr rotate)"
            )
        name = None
        if path.startswith("s/"):
            name, _, path = path[2:].partition("/")
        entry = ext.router.resolve(name)
        ext.router.saw(entry["kernel_id"], self.request.remote_ip or "?")
        await forward_to_kernel(self, entry, path)
