"""Where kernels that loaded dvvr say where they serve: ``<runtime>/dvvr/``.

``kernel-<kernel id>.json`` (0600: it holds the kernel's secret) per kernel,
and ``active``: the kernel id the stable VR URL routes to.  Kernels write
these, the server extension reads them.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

from .private import write_private

_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def registry_dir(runtime_dir: str | Path | None = None) -> Path:
    """The folder; ``runtime_dir`` defaults to this process's Jupyter runtime dir."""
    return Path(runtime_dir or jupyter_runtime_dir()) / "dvvr"


def entry_path(kernel_id: str, runtime_dir: str | Path | None = None) -> Path:
    """The registration file of kernel ``kernel_id``."""
    return registry_dir(runtime_dir) / f"kernel-{kernel_id}.json"


def shown_path(kernel_id: str, runtime_dir: str | Path | None = None) -> Path:
    """The kernel's answer-store state (``shown``): a folder of its own, so
    that its frequent rewrites leave ``Snapshot`` alone."""
    return registry_dir(runtime_dir) / "shown" / f"kernel-{kernel_id}.json"


def slug(text: str) -> str:
    """A session name that fits in a URL path segment."""
    return _NAME.sub("-", text).strip("-.") or "session"


def write_entry(entry: dict) -> Path:
    path = entry_path(entry["kernel_id"])
    write_private(path, json.dumps(entry, indent=1))
    return path


def remove_entry(kernel_id: str, pid: int | None = None) -> None:
    """Remove the entry (only if it is still ``pid``'s: a restarted kernel
    with the same id may have written its own already)."""
    path = entry_path(kernel_id)
    if pid is not None:
        entry = read_entry(path)
        if entry is not None and entry.get("pid") != pid:
            return
    path.unlink(missing_ok=True)
    shown_path(kernel_id).unlink(missing_ok=True)
    if active_kernel_id() == kernel_id:
        (registry_dir() / "active").unlink(missing_ok=True)


def read_entry(path: Path) -> dict | None:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or not {"kernel_id", "pid", "port", "secret"} <= entry.keys():
        return None
    return entry


def entries() -> list[dict]:
    """Every readable entry, newest first."""
    found = [read_entry(path) for path in registry_dir().glob("kernel-*.json")]
    return sorted((e for e in found if e), key=lambda e: e.get("started", 0), reverse=True)


def set_active(kernel_id: str) -> None:
    write_private(registry_dir() / "active", kernel_id)


def active_kernel_id() -> str | None:
    try:
        return (registry_dir() / "active").read_text().strip() or None
    except OSError:
        return None


class Snapshot:
    """``entries()`` and ``active_kernel_id()``, read again only when the
    registry folder changed: every write is an atomic rename inside it, so
    the folder's mtime moves.  Saves a directory scan and a file read per
    forwarded request (the client sends ~70 per input change)."""

    SETTLE_NS = 50_000_000  # a change younger than this may share the mtime tick: read anyway

    def __init__(self):
        self._stamp = None
        self._value: tuple[list[dict], str | None] = ([], None)
        self._dir: Path | None = None  # found on first use: Jupyter's path lookup was 3 % of a stored answer's CPU

    def read(self) -> tuple[list[dict], str | None]:
        if self._dir is None:
            self._dir = registry_dir()
        try:
            stat = self._dir.stat()
            stamp = (stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        fresh = stamp is not None and time.time_ns() - stamp[0] > self.SETTLE_NS
        if stamp != self._stamp or not fresh:
            self._value = (entries(), active_kernel_id())
            self._stamp = stamp
        return self._value


def pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a killed kernel stays a zombie until Jupyter reaps it: dead all the same
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal test is all there is


def remove_dead() -> None:
    """Drop entries of killed kernels (their atexit never ran)."""
    for entry in entries():
        if not pid_alive(entry["pid"]):
            remove_entry(entry["kernel_id"], entry["pid"])

