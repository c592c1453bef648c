"""The VR path ``{base_url}dvvr/vr/<token>/[s/<session>/]<protocol path>``,
forwarded to the kernel that serves the session.

The VR client sends no cookies or Jupyter token: the token in the path is
the capability.  Only JSON is served here (the path shares the Jupyter
origin, so no HTML a browser could run), and every error answers the
kernel's own error body, ``DvvrError.to_json()``.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest

from ..bridge.headers import CLIENT_HEADER, SECRET_HEADER
from ..errors import DvvrError, GatewayTimeout, InternalServerError, NotFound, Unavailable
from .routing import NO_SESSION

#: What stands for the token in every log line.
HIDDEN = "<token>"
# Only the kernel's status and body come back; hop-by-hop and framing
# headers are tornado's business.
_KEEP_HEADERS = ("Content-Type", "Cache-Control")


def error_body(exc: BaseException | None, status: int, reason: str) -> dict:
    """The JSON body of an error: the same keys the kernel's protocol app answers."""
    if isinstance(exc, DvvrError):
        return exc.to_json()
    if isinstance(exc, web.HTTPError):  # tornado's or Jupyter's own (405, 403 for a bad Host)
        message = exc.log_message % exc.args if exc.log_message else reason
        return {"error": reason, "message": message, "status": status}
    return InternalServerError("the dvvr proxy failed on this request (see the Jupyter server log)").to_json()


def _timed_out(err: HTTPClientError) -> bool:
    # the request (not the connection) timed out: tornado's and libcurl's words for it
    return err.code == 599 and ("Timeout during request" in str(err) or "Operation timed out" in str(err))


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
        client = self.request.remote_ip or "?"
        ext.router.saw(entry["kernel_id"], client)
        headers = {SECRET_HEADER: entry["secret"], CLIENT_HEADER: client}
        if "Content-Type" in self.request.headers:
            headers["Content-Type"] = self.request.headers["Content-Type"]
        method = self.request.method
        request = HTTPRequest(
            # tornado decoded the path: encode it again (%20, %3F, CR/LF must not reach the URL raw)
            f"http://127.0.0.1:{entry['port']}/{quote(path, safe='/')}",
            method=method,
            headers=headers,
            body=self.request.body if method in ("PUT", "POST") else None,
            allow_nonstandard_methods=True,
            connect_timeout=ext.connect_timeout,
            request_timeout=ext.request_timeout,
            follow_redirects=False,
            decompress_response=False,
        )
        try:
            response = await ext.http.fetch(request, raise_error=False)
        except HTTPClientError as err:  # 599: the kernel did not answer
            if _timed_out(err):
                raise GatewayTimeout(
                    f"the kernel took longer than {ext.request_timeout:g} s (DvvrExtension.request_timeout)"
                ) from None
            raise Unavailable(NO_SESSION) from None
        except (OSError, asyncio.TimeoutError):  # refused, reset: the kernel's server is gone
            raise Unavailable(NO_SESSION) from None
        self.set_status(response.code, reason=response.reason)
        for header in _KEEP_HEADERS:
            if header in response.headers:
                self.set_header(header, response.headers[header])
        self.finish(response.body or b"")
