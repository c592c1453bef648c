"""The extension's handlers: the VR path (capability token, no Jupyter
auth) forwarded to a kernel, and the authenticated sessions API and page."""

from __future__ import annotations

import asyncio
import html
import json
from urllib.parse import quote

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest

from ..bridge import registry
from ..bridge.headers import CLIENT_HEADER, SECRET_HEADER
from ..bridge.token import redact
from .app import NO_SESSION

# Only the kernel's status and body come back; hop-by-hop and framing
# headers are tornado's business.
_KEEP_HEADERS = ("Content-Type", "Cache-Control")


def _error_body(status: int, message: str, reason: str | None) -> str:
    return json.dumps({"message": message, "reason": reason, "status": status})


class VRHandler(APIHandler):
    """``{base_url}dvvr/vr/<token>/[s/<session>/]<protocol path>``.

    The VR client sends no cookies or Jupyter token: the token in the path
    is the capability.  Only JSON is served here (the path shares the
    Jupyter origin, so no HTML a browser could run).
    """

    def check_xsrf_cookie(self):
        """No XSRF check on this handler only: the client cannot send the
        cookie, and the path's token already proves the sender knows the URL."""

    async def prepare(self):
        # Routing is done: keep the token out of every log line from here on.
        token = self.path_args[0] if self.path_args else ""
        if token:
            self.request.uri = self.request.uri.replace(token, redact(token), 1)
            self.request.path = self.request.path.replace(token, redact(token), 1)
        await super().prepare()

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError):
            # tornado stores the message %-escaped: format it back
            message = exc.log_message % exc.args if exc.log_message else self._reason
            reason = exc.reason or self._reason
        else:
            message, reason = "the dvvr proxy failed on this request (see the Jupyter server log)", None
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(_error_body(status_code, message, reason))

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
            raise web.HTTPError(
                404,
                "no such VR URL: %dvvr url in a notebook prints the current one (it changes with %dvvr rotate)",
                reason="Not Found",
            )
        name = None
        if path.startswith("s/"):
            name, _, path = path[2:].partition("/")
        entry = ext.resolve(name)
        ext.saw(entry["kernel_id"], self.request.remote_ip or "?")
        headers = {SECRET_HEADER: entry["secret"], CLIENT_HEADER: self.request.remote_ip or "?"}
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
        except HTTPClientError as err:  # 599: timeouts
            # the request (not the connection) timed out: tornado's and libcurl's words for it
            if err.code == 599 and ("Timeout during request" in str(err) or "Operation timed out" in str(err)):
                raise web.HTTPError(
                    504,
                    f"the kernel took longer than {ext.request_timeout:.0f} s (DvvrExtension.request_timeout)",
                    reason="Gateway Timeout",
                ) from None
            raise web.HTTPError(503, NO_SESSION, reason="No dvvr session") from None
        except (OSError, asyncio.TimeoutError):  # refused, reset: the kernel's server is gone
            raise web.HTTPError(503, NO_SESSION, reason="No dvvr session") from None
        self.set_status(response.code, reason=response.reason)
        for header in _KEEP_HEADERS:
            if header in response.headers:
                self.set_header(header, response.headers[header])
        self.finish(response.body or b"")


def vr_base(handler: JupyterHandler) -> str:
    """The stable VR URL as the browser that asks reaches this server."""
    token = handler.settings["dvvr"].tokens.current()
    return f"{handler.request.protocol}://{handler.request.host}{handler.base_url}dvvr/vr/{token}/"


async def session_list(handler: JupyterHandler) -> list[dict]:
    ext = handler.settings["dvvr"]
    registry.remove_dead()
    live = ext.live_entries()
    try:
        active = ext.resolve()["kernel_id"]
    except web.HTTPError:
        active = None
    base = vr_base(handler)

    async def networks(entry):
        # Ask the kernel (fresh); fall back to what it wrote at its last cell.
        request = HTTPRequest(
            f"http://127.0.0.1:{entry['port']}/",
            headers={SECRET_HEADER: entry["secret"]},
            connect_timeout=ext.connect_timeout,
            request_timeout=2.0,
        )
        try:
            response = await ext.http.fetch(request)
            return json.loads(response.body)["networks"]
        except Exception:  # noqa: BLE001 - busy or gone: the file's list is good enough
            return entry.get("networks", [])

    found = await asyncio.gather(*(networks(entry) for entry in live))
    return [
        {
            "kernel_id": entry["kernel_id"],
            "name": entry.get("name"),
            "notebook_path": entry.get("notebook_path"),
            "networks": names,
            "active": entry["kernel_id"] == active,
            "vr_url": base if entry["kernel_id"] == active else f"{base}s/{entry.get('name')}/",
            "session_url": f"{base}s/{entry.get('name')}/",
            "clients": ext.clients(entry["kernel_id"]),
            "started": entry.get("started"),
        }
        for entry, names in zip(live, found, strict=True)
    ]


class SessionsHandler(APIHandler):
    """``{base_url}dvvr/api/sessions``: the kernels serving dvvr (Jupyter auth)."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized(action="read")
    async def get(self):
        self.finish(json.dumps(await session_list(self)))


def _qr(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=4)


class PageHandler(JupyterHandler):
    """``{base_url}dvvr/``: the sessions with QR codes of their VR URLs."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized(action="read")
    async def get(self):
        sessions = await session_list(self)
        base = vr_base(self)
        rows = []
        for s in sessions:
            label = html.escape(f"{s['name']} — {s['notebook_path'] or s['kernel_id']}")
            nets = html.escape(", ".join(s["networks"]) or "no networks attached yet")
            flag = " <b>(active: the VR URL shows it)</b>" if s["active"] else ""
            rows.append(
                f"<li><p>{label}{flag}<br>networks: {nets}<br>clients: "
                f"{html.escape(', '.join(s['clients']) or 'none')}<br>"
                f"<code>{html.escape(s['session_url'])}</code></p>{_qr(s['session_url'])}</li>"
            )
        listing = "".join(rows) or "<li>none: run <code>%load_ext dvvr</code> in a notebook</li>"
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            f"<!doctype html><html><head><meta charset='utf-8'><title>dvvr sessions</title></head>"
            f"<body style='font-family:sans-serif'><h1>DeepVisionVR</h1><p>VR URL (type it into the "
            f"VR client, or scan it):<br><code>{html.escape(base)}</code></p>{_qr(base)}"
            f"<h2>Sessions</h2><ul>{listing}</ul></body></html>"
        )
