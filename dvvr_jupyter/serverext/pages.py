"""The authenticated side: ``{base_url}dvvr/api/sessions`` (JSON) and
``{base_url}dvvr/`` (a page with QR codes of the VR URLs)."""

from __future__ import annotations

import asyncio
import html
import json
import secrets

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from tornado.httpclient import HTTPRequest

from ..bridge import registry
from ..bridge.answers import JSONErrors
from ..bridge.headers import SECRET_HEADER


def vr_base(handler: JupyterHandler) -> str:
    """The stable VR URL as the browser that asks reaches this server."""
    token = handler.settings["dvvr"].tokens.current()
    return f"{handler.request.protocol}://{handler.request.host}{handler.base_url}dvvr/vr/{token}/"


async def session_list(handler: JupyterHandler) -> list[dict]:
    ext = handler.settings["dvvr"]
    registry.remove_dead()
    live = ext.router.live_entries()
    active = ext.router.active_kernel_id()
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
            "clients": ext.router.clients(entry["kernel_id"]),
            "started": entry.get("started"),
        }
        for entry, names in zip(live, found, strict=True)
    ]


class SessionsHandler(JSONErrors, APIHandler):
    """``{base_url}dvvr/api/sessions``: the kernels serving dvvr (Jupyter auth)."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized(action="read")
    async def get(self):
        self.finish(json.dumps(await session_list(self)))


def headset_name() -> str:
    """A short name for another headset's own view, unlikely to be in use."""
    return "h-" + secrets.token_hex(3)


def _qr(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=4)


def _xr_link(url: str) -> str:
    target = html.escape(url + "xr/")
    return f"<a class='dvvr-xr' href='{target}' target='_blank' rel='noopener noreferrer'>{target}</a>"


def _qr_pair(url: str) -> str:
    """QR codes of a VR URL (for the VR client) and of its 3D view (for a browser), side by side."""
    figures = "".join(
        f"<figure style='margin:0;text-align:center'>{_qr(link)}<figcaption>{caption}</figcaption></figure>"
        for link, caption in ((url, "VR client"), (url + "xr/", "3D view in a browser"))
    )
    return f"<div style='display:flex;gap:2em'>{figures}</div>"


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
                f"<code>{html.escape(s['session_url'])}</code><br>3D view in a browser: {_xr_link(s['session_url'])}"
                f"</p>{_qr_pair(s['session_url'])}</li>"
            )
        listing = "".join(rows) or "<li>none: run <code>%load_ext dvvr</code> in a notebook</li>"
        headset = f"{base}h/{headset_name()}/"  # a fresh name each time the page loads
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            f"<!doctype html><html><head><meta charset='utf-8'><title>dvvr sessions</title></head>"
            f"<body style='font-family:sans-serif'><h1>DeepVisionVR</h1><p>VR URL (type it into the "
            f"VR client, or scan it):<br><code>{html.escape(base)}</code><br>3D view in a browser, a headset's "
            f"too: {_xr_link(base)}</p>{_qr_pair(base)}"
            f"<h2>URL for another headset</h2><p>Its own input, whatever the others choose (reload the page "
            f"for another):<br><code class='dvvr-headset'>{html.escape(headset)}</code><br>its 3D view: "
            f"{_xr_link(headset)}</p>{_qr_pair(headset)}"
            f"<h2>Sessions</h2><ul>{listing}</ul></body></html>"
        )
