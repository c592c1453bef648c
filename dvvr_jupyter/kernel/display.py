"""The cell output of ``%load_ext dvvr``, ``attach`` and ``%dvvr status``:
the VR URL, a QR code of it (headset browsers scan it) and the status."""

from __future__ import annotations

import html


def qr_svg(url: str, scale: int = 3) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=scale, dark="#111", light="#fff")


def _summary(status: dict) -> tuple[str, str]:
    networks = ", ".join(status["networks"]) or "none yet: dvvr.attach(model, dataset)"
    clients = ", ".join(status["clients"]) or "none"
    return networks, clients


class Panel:
    """Rich in a notebook (HTML + QR), plain text in a terminal."""

    def __init__(self, status: dict):
        self.status = status

    def url(self) -> str | None:
        return self.status["vr_url"] or self.status["direct_url"]

    def __repr__(self) -> str:
        s = self.status
        networks, clients = _summary(s)
        if not s["running"]:
            return "dvvr: stopped in this kernel (%dvvr start serves again)"
        lines = []
        if s["vr_url"]:
            lines.append(
                f"dvvr VR URL: {s['vr_url']}" + ("" if s["active"] else "  (another kernel is active: %dvvr activate)")
            )
            lines.append(f"this session only: {s['named_url']}")
        else:
            lines.append(
                "dvvr: no Jupyter server runs this kernel; %dvvr serve --port 5570 serves the VR client directly"
            )
        if s["direct_url"]:
            lines.append(f"direct URL: {s['direct_url']}")
        lines.append(f"networks: {networks}")
        lines.append(f"VR clients in the last minute: {clients}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        s = self.status
        if not s["running"]:
            return f"<pre>{html.escape(repr(self))}</pre>"
        networks, clients = _summary(s)
        url = self.url()
        rows = []
        if s["vr_url"]:
            note = "" if s["active"] else " <i>(another kernel is active: <code>%dvvr activate</code>)</i>"
            rows.append(f"<b>VR URL</b>: <code>{html.escape(s['vr_url'])}</code>{note}")
            rows.append(f"this session only: <code>{html.escape(s['named_url'])}</code>")
        if s["direct_url"]:
            rows.append(f"direct URL: <code>{html.escape(s['direct_url'])}</code>")
        if not url:
            rows.append("no Jupyter server runs this kernel: <code>%dvvr serve --port 5570</code>")
        rows.append(f"networks: {html.escape(networks)}")
        rows.append(f"VR clients in the last minute: {html.escape(clients)}")
        qr = f'<div style="flex:none">{qr_svg(url)}</div>' if url else ""
        body = "<br>".join(rows)
        return f'<div class="dvvr-status" style="display:flex;gap:1em;align-items:center">{qr}<div>{body}</div></div>'
