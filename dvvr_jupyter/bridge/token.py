"""The VR capability token: ``<jupyter data dir>/dvvr/vr-token``.

The VR client cannot send Jupyter credentials, so the secret part of its
URL is this token.  It lives in the data dir (not the runtime dir) so the
URL typed into the headset survives kernel and server restarts.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir

from .private import write_private


def token_path(data_dir: str | Path | None = None) -> Path:
    """Where the token lives; ``data_dir`` defaults to this process's Jupyter data dir."""
    return Path(data_dir or jupyter_data_dir()) / "dvvr" / "vr-token"


def read_token(create: bool = True) -> str | None:
    """The current token; created (192 random bits) when missing and ``create``."""
    path = token_path()
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    if not create:
        return None
    try:
        write_private(path, secrets.token_urlsafe(24), exclusive=not path.exists())
    except FileExistsError:
        pass  # another process won the race: use its token
    return path.read_text().strip()


def rotate_token() -> str:
    """Replace the token: every VR client using the old URL stops working."""
    token = secrets.token_urlsafe(24)
    write_private(token_path(), token)
    return token


class TokenStore:
    """The server's view of the token, re-read when the file changes
    (``%dvvr rotate`` in a kernel writes it)."""

    def __init__(self):
        self._stamp = None
        self._token = read_token(create=True)
        self._path = token_path()  # found once: Jupyter's path lookup was 2 % of a stored VR answer's CPU

    def current(self) -> str | None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._token = read_token(create=True)
        return self._token
