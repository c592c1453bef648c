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

from .result import Result

SHARED = None  # the view name of the shared view
MAX_VIEWS = 256  # headsets' own views kept per network (the idlest is forgotten)


class Views:
    """Each view's current result and the ticket of the choice it shows."""

    def __init__(self):
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
            self._shown_ticket[view] = ticket
            previous = self._current.pop(view, None)
            self._current[view] = result  # the most recently used view last
            if len(self._current) > MAX_VIEWS:  # forget the headset idle longest
                oldest = next(name for name in self._current if name is not SHARED)
                del self._current[oldest]
                self._shown_ticket.pop(oldest, None)
        return True, previous

    def clear(self) -> Result | None:
        """Forget every view (their results are never current again); returns
        what the shared view showed."""
        with self._lock:
            shared = self._current.get(SHARED)
            self._current.clear()
            self._shown_ticket.clear()
        return shared
