"""Files only this user may read, written atomically (the token, the
kernels' registrations: both hold secrets)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` with mode 0600 (its folder 0700 when created);
    ``exclusive`` fails with ``FileExistsError`` if the file exists (two
    processes creating it at once keep the first one's text)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        if exclusive:
            os.link(tmp, path)  # atomic and fails if the file exists: never an empty file
        else:
            os.replace(tmp, path)  # atomic: a reader sees the old or the new text, never half
    finally:
        tmp.unlink(missing_ok=True)
