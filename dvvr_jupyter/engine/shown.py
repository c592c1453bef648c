"""What each view of each network is about to show, told synchronously.

Unlike ``events`` (delivered later, on a dispatch thread), these listeners
are called on the thread making the change, under the view's lock, *before*
the change can be read: whoever mirrors the views outside the process (the
kernel's state file for the Jupyter server's answer store) is never behind
what a request could see.  So a listener must be quick, must not call back
into the engine, and its errors are logged, never raised into the engine.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger("dvvr.engine")


class ShownListener(Protocol):
    def shown(self, network_id: int, changes: dict) -> None:
        """``changes``: view (``None``: the shared one) -> the ``Result`` it
        will show, or ``None``: the view is forgotten."""

    def forget(self, network_ids: list[int]) -> None:
        """Every view of these network ids is about to change or go (a network
        attached in an id's place, detached, or later ids moving down)."""


class ShownListeners:
    """The synchronous listeners of one session."""

    def __init__(self):
        self._lock = threading.Lock()
        self._listeners: tuple[ShownListener, ...] = ()

    def add(self, listener: ShownListener) -> None:
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def remove(self, listener: ShownListener) -> None:
        with self._lock:
            self._listeners = tuple(known for known in self._listeners if known is not listener)

    def shown(self, network_id: int, changes: dict) -> None:
        for listener in self._listeners:
            try:
                listener.shown(network_id, changes)
            except Exception:  # noqa: BLE001 - a listener's failure must not stop a switch
                log.exception("dvvr: shown-listener %r failed", listener)

    def forget(self, network_ids: list[int]) -> None:
        if not network_ids:
            return
        for listener in self._listeners:
            try:
                listener.forget(network_ids)
            except Exception:  # noqa: BLE001
                log.exception("dvvr: shown-listener %r failed", listener)
