"""The cell output of ``%load_ext dvvr``, ``attach``, ``%dvvr status`` and
``%dvvr headset``: the VR URL, a QR code of it (headset browsers scan it)
and the status; the lines of ``%dvvr name``, ``activate`` and ``rotate``
that name the URL.

The VR URL is a capability, and a notebook's outputs are saved with it (and
shared with it).  So a URL with a token in it is shown *live*, in a widget:
the saved output keeps only the widget's reference and a text whose token
is hidden (also what a terminal shows; ``%dvvr url`` prints the URL there).
Widget state is saved only if someone asks for it (JupyterLab's
"Save Widget State Automatically", off by default).
"""

from __future__ import annotations

import html
import re

from ..bridge.redact import VR_PATH_TOKEN, redact_path

HIDDEN_NOTE = "the URL is shown live above and not kept in the saved notebook; %dvvr url prints it"


def qr_svg(url: str, scale: int = 3) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=scale, dark="#111", light="#fff")


def qr_figure(url: str, caption: str) -> str:
    """A QR code with what it is for written under it (a panel shows two)."""
    return (f'<figure style="flex:none;margin:0;text-align:center">{qr_svg(url)}'
            f'<figcaption style="font-size:smaller">{html.escape(caption)}</figcaption></figure>')


def xr_url(url: str) -> str:
    """The browser 3D client under a VR URL (the same capability)."""
    return f"{url}xr/"


def xr_link(url: str) -> str:
    """A link that opens the 3D view of ``url`` in a new tab (no referrer: the URL is a capability)."""
    target = html.escape(xr_url(url))
    return f'<a href="{target}" target="_blank" rel="noopener noreferrer"><code>{target}</code></a>'


def hide_token(url: str | None, direct_token: bool = False) -> str | None:
    """``url`` with its capability replaced by ``<token>`` (as saved outputs show it)."""
    if not url:
        return url
    if "/dvvr/vr/" in url:
        return VR_PATH_TOKEN[0].sub(VR_PATH_TOKEN[1], url)
    if direct_token:
        origin, path = re.match(r"(\w+://[^/]+)(/.*)?$", url).groups()
        return origin + redact_path(path or "/", "\0")
    return url


#: The widget last shown per slot: a new panel of the same slot closes it, so
#: re-running a cell never piles up widgets (each holding the URL in its state).
_shown_widgets: dict[str, object] = {}


def live(html_text: str, saved_text: str, slot: str) -> dict:
    """A mime bundle that shows ``html_text`` in a widget (live) and saves
    ``saved_text`` only.  The previous widget of ``slot`` is closed (its
    output shows nothing any more; its saved text stays)."""
    import ipywidgets

    widget = ipywidgets.HTML(value=html_text)
    previous = _shown_widgets.pop(slot, None)
    if previous is not None:
        previous.close()
    _shown_widgets[slot] = widget
    bundle = widget._repr_mimebundle_()
    bundle["text/plain"] = saved_text
    return bundle


def refresh(slot: str, html_text: str) -> bool:
    """Show ``html_text`` in the live widget of ``slot`` (if one is shown):
    the panel already on the page updates instead of a new one below."""
    widget = _shown_widgets.get(slot)
    if widget is None:
        return False
    if widget.value != html_text:
        widget.value = html_text
    return True


class UrlNote:
    """A line of text that names a VR URL (``{url}`` in ``template``), shown
    like the panels: live in a widget, saved with the token hidden."""

    def __init__(self, template: str, url: str | None, *, direct_token: bool = False, slot: str = "note"):
        self.template = template
        self.url = url
        self.direct_token = direct_token
        self.slot = slot

    @property
    def secret(self) -> bool:
        return hide_token(self.url, self.direct_token) != self.url

    def text(self, hide: bool = False) -> str:
        url = hide_token(self.url, self.direct_token) if hide else self.url
        return self.template.format(url=url or "")

    def __repr__(self) -> str:
        return self.text(hide=self.secret) + (f"\n({HIDDEN_NOTE})" if self.secret else "")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if self.secret:
            return live(f"<pre>{html.escape(self.text())}</pre>", repr(self), self.slot)
        return {"text/plain": self.text()}


def _summary(status: dict) -> tuple[str, str]:
    networks = ", ".join(status["networks"]) or "none yet: dvvr.attach(model, dataset)"
    clients = ", ".join(status["clients"]) or "none"
    return networks, clients


class Panel:
    """Rich in a notebook (a widget with the URL and its QR code), plain text
    in a terminal, the token hidden in what is saved."""

    def __init__(self, status: dict):
        self.status = status

    def url(self) -> str | None:
        return self.status["vr_url"] or self.status["direct_url"]

    @property
    def secret(self) -> bool:
        """Does the panel show a capability (a URL with a token)?"""
        return bool(self.status["vr_url"] or (self.status["direct_url"] and self.status.get("direct_token")))

    def text(self, hide: bool = False) -> str:
        s = self.status
        networks, clients = _summary(s)
        if not s["running"]:
            return "dvvr: stopped in this kernel (%dvvr start serves again)"

        def shown(url):
            return hide_token(url, s.get("direct_token", False)) if hide else url

        lines = []
        if s["vr_url"]:
            lines.append(
                f"dvvr VR URL: {shown(s['vr_url'])}"
                + ("" if s["active"] else "  (another kernel is active: %dvvr activate)")
            )
            lines.append(f"this session only: {shown(s['named_url'])}")
        else:
            lines.append(
                "dvvr: no Jupyter server runs this kernel; %dvvr serve --port 5570 serves the VR client directly"
            )
        if s["direct_url"]:
            lines.append(f"direct URL: {shown(s['direct_url'])}")
        if self.url():
            lines.append(f"3D view in a browser: {shown(xr_url(self.url()))}")
        lines.append(f"networks: {networks}")
        lines.append(f"VR clients in the last minute: {clients}")
        if hide and self.secret:
            lines.append(f"({HIDDEN_NOTE})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text(hide=self.secret)

    def html(self) -> str:
        """The live view: URLs in full and the QR code."""
        s = self.status
        if not s["running"]:
            return f"<pre>{html.escape(self.text())}</pre>"
        networks, clients = _summary(s)
        url = self.url()
        rows = []
        if url and s.get("explorer_shown"):
            # once per purpose in a notebook: the explorer's Connection panel has them (and stays in view)
            rows.append("VR URL, 3D view and their QR codes: in the explorer's <b>Connection</b> panel")
            rows.append(f"networks: {html.escape(networks)}")
            rows.append(f"VR clients in the last minute: {html.escape(clients)}")
            return f'<div class="dvvr-status">{"<br>".join(rows)}</div>'
        if s["vr_url"]:
            note = "" if s["active"] else " <i>(another kernel is active: <code>%dvvr activate</code>)</i>"
            rows.append(f"<b>VR URL</b>: <code>{html.escape(s['vr_url'])}</code>{note}")
            rows.append(f"this session only: <code>{html.escape(s['named_url'])}</code>")
        if s["direct_url"]:
            rows.append(f"direct URL: <code>{html.escape(s['direct_url'])}</code>")
        if not url:
            rows.append("no Jupyter server runs this kernel: <code>%dvvr serve --port 5570</code>")
        else:
            rows.append(f"3D view in a browser: {xr_link(url)}")
        rows.append(f"networks: {html.escape(networks)}")
        rows.append(f"VR clients in the last minute: {html.escape(clients)}")
        rows.append("another headset with its own input: <code>%dvvr headset</code>")
        qr = qr_figure(url, "VR client") if url else ""
        qr_3d = qr_figure(xr_url(url), "3D view in a browser") if url else ""
        body = "<br>".join(rows)
        return (f'<div class="dvvr-status" style="display:flex;gap:1em;align-items:center">{qr}<div>{body}</div>'
                f"{qr_3d}</div>")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if self.secret:
            return live(self.html(), self.text(hide=True), "status")
        return {"text/plain": self.text(), "text/html": self.html()}


class HeadsetPanel:
    """``%dvvr headset``: the URL of another headset's own view, and its QR code."""

    def __init__(self, name: str, url: str, secret: bool = True):
        self.name = name
        self.url = url
        self.secret = secret

    def text(self, hide: bool = False) -> str:
        url = hide_token(self.url, direct_token=True) if hide else self.url
        lines = [f"URL for headset {self.name!r} (its own input; the results of inputs others also chose are shared): "
                 f"{url}", f"3D view in a browser (a headset's browser too): {xr_url(url)}"]
        if hide:
            lines.append(f"(the URL is shown live above and not kept in the saved notebook; "
                         f"%dvvr url {self.name} prints it)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text(hide=self.secret)

    def html(self) -> str:
        return (f'<div class="dvvr-headset" style="display:flex;gap:1em;align-items:center">'
                f'{qr_figure(self.url, "VR client")}<div><b>URL for another headset</b> '
                f"({html.escape(self.name)}, its own input):<br><code>{html.escape(self.url)}</code><br>"
                f"3D view in a browser (a headset's browser too): {xr_link(self.url)}</div>"
                f'{qr_figure(xr_url(self.url), "3D view in a browser")}</div>')

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if self.secret:
            return live(self.html(), self.text(hide=True), f"headset:{self.name}")
        return {"text/plain": self.text(), "text/html": self.html()}
