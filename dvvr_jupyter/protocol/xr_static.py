"""``{base}xr/``: the browser 3D client's files (``dvvr_jupyter/xr/static/``),
served under every VR URL with the same capability as the protocol.

Only files inside that folder with a known type are served; anything else
(``..``, hidden files, other types) answers the protocol's 404 JSON.  Under
Jupyter the VR path shares Jupyter's origin, so HTML pages go out with a
Content-Security-Policy that runs only this folder's scripts and the page's
own inline scripts (by hash, e.g. an import map): nothing injected into the
page can run, and the page may talk only to its own origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from tornado.ioloop import IOLoop

from ..errors import NotFound
from .handlers import ProtocolHandler

STATIC = Path(__file__).resolve().parent.parent / "xr" / "static"
TYPES = {
    ".html": "text/html; charset=UTF-8",
    ".js": "text/javascript; charset=UTF-8",
    ".mjs": "text/javascript; charset=UTF-8",
    ".css": "text/css; charset=UTF-8",
    ".json": "application/json; charset=UTF-8",
    ".map": "application/json; charset=UTF-8",
    ".txt": "text/plain; charset=UTF-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".glb": "model/gltf-binary",
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)


def find(path: str, root: Path) -> Path:
    """The file ``path`` (relative, ``/``-separated; a folder means its
    index.html) names inside ``root``, or ``NotFound``."""
    if path == "" or path.endswith("/"):
        path += "index.html"
    parts = path.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        raise NotFound(f"no such file of the 3D client: xr/{path[:80]}", field="path")
    file = root.joinpath(*parts).resolve()
    if not file.is_relative_to(root) or not file.is_file() or file.suffix.lower() not in TYPES:
        raise NotFound(f"no such file of the 3D client: xr/{path[:80]}", field="path")
    return file


def content_security_policy(page: bytes) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
                      for body in _INLINE_SCRIPT.findall(page))
    return ("default-src 'self'; script-src 'self'" + (f" {hashes}" if hashes else "")
            + "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'self'")


class XRRedirectHandler(ProtocolHandler):
    """``{base}xr`` -> ``xr/`` (relative, so it holds behind any proxy prefix)."""

    waits_for_session = False
    counts_as_activity = False

    def get(self):
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_status(302)
        self.set_header("Location", "xr/")
        self.finish()


class XRFileHandler(ProtocolHandler):
    waits_for_session = False  # the page loads while the project does
    counts_as_activity = False

    _etag: str | None = None

    async def get(self, path):
        file = find(path, STATIC)
        data, stat = await IOLoop.current().run_in_executor(None, lambda: (file.read_bytes(), file.stat()))
        self._etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        self.set_header("Content-Type", TYPES[file.suffix.lower()])
        self.set_header("Cache-Control", "no-cache")  # revalidated (ETag): a new version shows on reload
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")  # the page's URL holds the capability
        if file.suffix.lower() == ".html":
            self.set_header("Content-Security-Policy", content_security_policy(data))
        self.finish(data)

    def compute_etag(self):
        return self._etag
