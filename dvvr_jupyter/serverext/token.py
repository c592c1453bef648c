"""The VR capability token: ``<jupyter data dir>/dvvr/vr-token``.

The VR client cannot send Jupyter credentials, so the secret part of its
URL is this token.  It lives in the data dir (not the runtime dir) so the
URL typed into the headset survives kernel and server restarts.  Shared by
the server extension and the kernel side: no jupyter_server imports here.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir


def token_path() -> Path:
    return Path(jupyter_data_dir()) / "dvvr" / "vr-token"


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` with mode 0600; ``exclusive`` fails if the file exists
    (two processes creating it at once keep the first token)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        if exclusive:
            os.link(tmp, path)  # atomic and fails if the file exists: never an empty token file
        else:
            os.replace(tmp, path)  # atomic: a reader sees the old or the new token, never half
    finally:
        tmp.unlink(missing_ok=True)


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
    write_private(token_path(), token, exclusive=False)
    return token


def redact(token: str | None) -> str:
    """What may appear in logs: a 4-character prefix."""
    return f"{token[:4]}…" if token else "<none>"


class TokenStore:
    """The server's view of the token, re-read when the file changes
    (``%dvvr rotate`` in a kernel writes it)."""

    def __init__(self):
        self._stamp = None
        self._token = read_token(create=True)

    def current(self) -> str | None:
        path = token_path()
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._token = read_token(create=True)
        return self._token

    def matches(self, given: str) -> bool:
        token = self.current()
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())
