"""One computation per key, however many callers ask for it at once.

The first caller of a key computes; the others wait for its answer (or its
exception).  Once the computation ends the key is forgotten: keeping answers
is the result cache's business.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future


class InFlight:
    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[Hashable, Future] = {}

    def once(self, key: Hashable | None, compute: Callable[[], object]):
        """``compute()``, shared with every caller of ``key`` meanwhile
        (``None``: never shared, always computed)."""
        if key is None:
            return compute()
        with self._lock:
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
        if not owner:
            return pending.result()
        try:
            value = compute()
            pending.set_result(value)
            return value
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._pending.pop(key, None)
