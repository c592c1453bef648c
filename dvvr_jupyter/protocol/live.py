"""``events/{since}``: what happens in a session, for browser clients that
long-poll over the capability path (plain HTTP, so it also passes Jupyter's
proxy).

One ``EventFeed`` per session numbers the session's events (``engine.events``)
as wire events in a ring buffer.  A poll answers at once when something
after ``since`` concerns its view, else waits on the IO loop (no thread) up
to ``POLL_SECONDS``.  Input events belong to one view (the shared one, or a
headset's ``h/<name>/``); weights, feature-visualization progress and
network changes concern every view.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque

#: How long a poll waits for an event before answering an empty list (below
#: the 25 s the contract allows, so that the answer also passes Jupyter's proxy in time).
POLL_SECONDS = 20.0
RING = 512  # events kept; a client further behind is told to reload everything
EVERY_VIEW = object()


def _wire_event(event) -> tuple[object, dict] | None:
    """``(view, body)`` of an engine event, or ``None`` for events no client needs."""
    from ..engine.events import ORIGIN_REFRESH, ORIGIN_WATCH, FeatVisProgress, NetworksChanged, ResultReady
    from .wire import result_key

    if isinstance(event, ResultReady):
        key = result_key(event.result)
        if event.origin in (ORIGIN_REFRESH, ORIGIN_WATCH):
            return EVERY_VIEW, {"type": "weights", "network": event.network.id, "result": key}
        return event.view, {"type": "input", "network": event.network.id, "describe": event.result.input.describe(),
                            "result": key}
    if isinstance(event, FeatVisProgress):
        return EVERY_VIEW, {"type": "featvis", "network": event.network.id, "layer": event.layer,
                            "state": event.state, "done": event.done, "total": event.total}
    if isinstance(event, NetworksChanged):
        return EVERY_VIEW, {"type": "networks"}
    return None


class EventFeed:
    """Numbered wire events of one session (``feed_for(session)``)."""

    def __init__(self, session, size: int = RING):
        self._lock = threading.Lock()
        self._events: deque[tuple[int, object, dict]] = deque()
        self._size = size
        self._dropped = 0  # the newest seq that fell out of the ring
        self.seq = 1  # never 0: "events/0" asks for the current number, so a client at 0 would never wait
        self._waiters: dict[asyncio.Future, asyncio.AbstractEventLoop] = {}
        self._subscription = session.events.subscribe(self._on_event)

    def _on_event(self, event) -> None:  # the session's dispatch thread
        wire = _wire_event(event)
        if wire is None:
            return
        view, body = wire
        with self._lock:
            last = self._events[-1] if self._events else None
            if (last is not None and body["type"] == "featvis" and last[2]["type"] == "featvis"
                    and (last[2]["network"], last[2]["layer"], last[2]["state"])
                    == (body["network"], body["layer"], "running")):
                self._events.pop()  # a job's news replaces its running step, so progress cannot flood the ring
            elif len(self._events) >= self._size:
                self._dropped = self._events.popleft()[0]
            self.seq += 1
            self._events.append((self.seq, view, body))
            waiters, self._waiters = self._waiters, {}
        for future, loop in waiters.items():
            _wake(future, loop)

    def read(self, since: int, view: str | None) -> tuple[dict, bool]:
        """``(answer, ready)`` for a client at ``since`` in ``view``; not
        ready: nothing for it yet (the answer to give if nothing comes)."""
        with self._lock:
            if since <= 0 or since > self.seq:
                return {"seq": self.seq, "events": []}, True
            if since < self._dropped:
                return {"seq": self.seq, "events": [], "reset": True}, True
            events = [body for seq, owner, body in self._events
                      if seq > since and (owner is EVERY_VIEW or owner == view)]
            return {"seq": self.seq, "events": events}, bool(events)

    def waiter(self) -> asyncio.Future:
        """A future on the running loop, resolved at the next event (or by ``wake``)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._waiters[future] = loop
        return future

    def discard(self, future: asyncio.Future) -> None:
        with self._lock:
            self._waiters.pop(future, None)

    def close(self) -> None:
        self._subscription.close()
        with self._lock:
            waiters, self._waiters = self._waiters, {}
        for future, loop in waiters.items():
            _wake(future, loop)


def _wake(future: asyncio.Future, loop: asyncio.AbstractEventLoop) -> None:
    def resolve():
        if not future.done():
            future.set_result(None)

    try:
        loop.call_soon_threadsafe(resolve)
    except RuntimeError:  # that server's loop is closed: nobody waits there any more
        pass


_feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_feeds_lock = threading.Lock()


def feed_for(session) -> EventFeed:
    """The session's feed, made on first use (before that, emitting costs nothing)."""
    with _feeds_lock:
        feed = _feeds.get(session)
        if feed is None:
            feed = _feeds[session] = EventFeed(session)
        return feed
