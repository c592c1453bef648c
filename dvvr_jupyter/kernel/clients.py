"""Which VR clients talked to this kernel lately (for the status display)."""

from __future__ import annotations

import threading
import time

# Set by the server extension (every request it forwards comes from loopback).
from ..bridge.headers import CLIENT_HEADER, EXPLORER_HEADER


class ClientTracker:
    """Distinct client addresses seen in the last ``window`` seconds.

    ``log_function`` replaces the protocol app's access log in the kernel:
    the access log would print into whatever cell is running.
    """

    def __init__(self, window: float = 60.0):
        self.window = window
        self._seen: dict[str, float] = {}
        self._last: float | None = None  # kept past the window (recent() forgets addresses, not this)
        self._lock = threading.Lock()

    def log_function(self, handler) -> None:
        if handler.get_status() == 403:
            return  # no secret: not one of our clients
        if handler.request.headers.get(EXPLORER_HEADER):
            return  # the explorer widget in a browser, not a headset
        address = handler.request.headers.get(CLIENT_HEADER) or handler.request.remote_ip or "?"
        with self._lock:
            self._seen[address] = self._last = time.monotonic()

    def recent(self) -> list[str]:
        cutoff = time.monotonic() - self.window
        with self._lock:
            for address in [a for a, t in self._seen.items() if t < cutoff]:
                del self._seen[address]
            return sorted(self._seen)

    def last_request_age(self) -> float | None:
        """Seconds since the last VR request (``None``: none yet)."""
        with self._lock:
            latest = self._last
        return None if latest is None else round(time.monotonic() - latest, 1)
