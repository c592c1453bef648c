"""What happens in a session, for whoever wants to follow it (the explorer
widget, the kernel's status display, tests).

Listeners are called on one dispatch thread per session, in the order the
events happened, never on the thread that caused them: so never while an
engine lock is held, and a slow listener cannot stall a forward pass or a
VR request.  A listener that raises is logged and keeps its subscription;
the engine goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("dvvr.events")

#: Who changed an input: the VR client, the notebook (Python), the explorer
#: widget, ``refresh()`` / ``dvvr.watch`` recomputing with new weights.
ORIGIN_VR, ORIGIN_NOTEBOOK, ORIGIN_WIDGET, ORIGIN_REFRESH, ORIGIN_WATCH = "vr", "notebook", "widget", "refresh", "watch"
ORIGINS = (ORIGIN_VR, ORIGIN_NOTEBOOK, ORIGIN_WIDGET, ORIGIN_REFRESH, ORIGIN_WATCH)

#: What happened to a network (``NetworksChanged.change``).
ATTACHED, REPLACED, DETACHED, RETRACKED = "attached", "replaced", "detached", "retracked"


@dataclass(frozen=True, eq=False)
class InputChanged:
    """``network`` shows a new input in ``view`` (``None``: the shared view,
    what the plain VR URL and the notebook show)."""

    network: Any
    input: Any
    origin: str
    view: str | None = None


@dataclass(frozen=True, eq=False)
class ResultReady:
    """A new result (new input, or the same input with new weights) is current."""

    network: Any
    result: Any
    origin: str
    view: str | None = None


@dataclass(frozen=True, eq=False)
class NetworksChanged:
    """``change`` is ``"attached"``, ``"replaced"`` (attached again under the
    same id), ``"detached"`` or ``"retracked"`` (same id, new layers)."""

    network: Any
    change: str


@dataclass(frozen=True, eq=False)
class FeatVisProgress:
    """A feature-visualization job of ``network``'s ``layer``: ``state`` is
    ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``."""

    network: Any
    layer: int
    done: int
    total: int
    state: str
    message: str = ""


Event = InputChanged | ResultReady | NetworksChanged | FeatVisProgress
Listener = Callable[[Event], Any]


class Subscription:
    """Returned by ``EventHub.subscribe``; ``close()`` (or calling it) ends it."""

    def __init__(self, hub: EventHub, listener: Listener, types: tuple[type, ...]):
        self._hub, self.listener, self.types = hub, listener, types

    def wants(self, event) -> bool:
        return not self.types or isinstance(event, self.types)

    def close(self) -> None:
        self._hub._remove(self)

    __call__ = close


_STOP = object()


class EventHub:
    """Events of one session, delivered on a dispatch thread started with
    the first subscription (no listener: emitting costs nothing)."""

    def __init__(self, name: str = "dvvr-events"):
        self._name = name
        self._subscriptions: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def subscribe(self, listener: Listener, *types: type) -> Subscription:
        """Call ``listener(event)`` for every event (or only those of ``types``)."""
        if not callable(listener):
            msg = f"a listener must be callable, got {type(listener).__name__}"
            raise TypeError(msg)
        subscription = Subscription(self, listener, types)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def emit(self, event) -> None:
        if not self._subscriptions:
            return
        with self._lock:
            if self._thread is None:
                return  # closed
            self._pending += 1
        self._queue.put(event)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every event emitted so far was delivered (tests)."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            for subscription in self._subscriptions:
                if subscription.wants(event):
                    try:
                        subscription.listener(event)
                    except Exception:  # noqa: BLE001 - a listener's bug must not stop the engine
                        log.exception("dvvr event listener %r failed on %s", subscription.listener,
                                      type(event).__name__)
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._subscriptions = ()
        if thread is not None:
            self._queue.put(_STOP)
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        with self._lock:
            self._pending = 0
            self._idle.notify_all()
