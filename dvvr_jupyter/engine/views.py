"""The views of one network: which result each headset, and the shared
view, shows now.

The shared view (``None``) is what the plain VR URL and the notebook show;
a headset with a name of its own gets its own view.  Inputs are shown in the
order they were asked for, not the order their forward passes end: each
choice takes a *ticket* (``take_ticket``), and a view never goes back to a
result of an older ticket than the one it shows.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from .result import Result

SHARED = None  # the view name of the shared view
MAX_VIEWS = 256  # headsets' own views kept per network (the idlest is forgotten)


class Views:
    """Each view's current result and the ticket of the choice it shows."""

    def __init__(self, on_change: Callable[[dict[str | None, Result | None]], None] | None = None):
        #: told ``{view: result it will show, or None: forgotten}`` under the lock, before
        #: anyone can read the change (``shown.ShownListeners``: the Jupyter server's answer store)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._current: dict[str | None, Result] = {}  # view name -> current result, most recently used last
        self._tickets = itertools.count(1)
        self._shown_ticket: dict[str | None, int] = {}

    def get(self, view: str | None) -> Result | None:
        return self._current.get(view)

    def results(self) -> list[Result]:
        """Every view's current result."""
        return list(self._current.values())

    def names(self) -> list[str]:
        """The headsets' own views (the shared view is not listed)."""
        return [name for name in list(self._current) if name is not SHARED]

    def take_ticket(self) -> int:
        """A new choice's ticket: higher than every ticket taken before."""
        return next(self._tickets)

    def shown_ticket(self, view: str | None) -> int:
        """The ticket of what ``view`` shows (0: nothing chosen yet)."""
        return self._shown_ticket.get(view, 0)

    def current(self, view: str | None) -> tuple[Result | None, int | None]:
        """``view``'s result and its ticket, read together."""
        with self._lock:
            return self._current.get(view), self._shown_ticket.get(view)

    def show(self, result: Result, view: str | None, ticket: int) -> tuple[bool, Result | None]:
        """Make ``result`` current in ``view`` unless a choice of a higher
        ticket is shown there already.  Returns (shown, the result it replaced)."""
        with self._lock:
            if ticket < self._shown_ticket.get(view, 0) and view in self._current:
                return False, None
            evicted = None
            if view not in self._current and len(self._current) >= MAX_VIEWS:  # forget the headset idle longest
                evicted = next((name for name in self._current if name is not SHARED and name != view), None)
            if self._on_change is not None:
                self._on_change({view: result} if evicted is None else {view: result, evicted: None})
            self._shown_ticket[view] = ticket
            previous = self._current.pop(view, None)
            self._current[view] = result  # the most recently used view last
            if evicted is not None:
                del self._current[evicted]
                self._shown_ticket.pop(evicted, None)
        return True, previous

    def mute(self) -> None:
        """Tell ``on_change`` nothing more (the network is detached or replaced:
        its id is another's now)."""
        with self._lock:
            self._on_change = None

    def announce(self) -> None:
        """Tell ``on_change`` every view's result (a listener that came late)."""
        with self._lock:
            if self._on_change is not None and self._current:
                self._on_change(dict(self._current))

    def clear(self) -> Result | None:
        """Forget every view (their results are never current again); returns
        what the shared view showed."""
        with self._lock:
            shared = self._current.get(SHARED)
            if self._on_change is not None and self._current:
                self._on_change(dict.fromkeys(self._current))
            self._current.clear()
            self._shown_ticket.clear()
        return shared
