"""Results shared between views: one forward pass per (network, input, weights).

Twenty headsets looking at the same photo with the same weights read one
``Result``; a headset switching back to a photo it saw a moment ago gets it
without a forward pass.  Entries are kept least-recently-used first within a
memory budget; a result some view currently shows is never dropped (it stays
in memory anyway), so the budget may be exceeded by what is on screen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from .result import Result

DEFAULT_BUDGET_MB = 256


class ResultCache:
    def __init__(self, budget_mb: float = DEFAULT_BUDGET_MB, shown: Callable[[Result], bool] = lambda result: False):
        if budget_mb < 0:
            msg = f"the result cache budget must be >= 0 MB, got {budget_mb}"
            raise ValueError(msg)
        self.budget = int(budget_mb * 2**20)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._shown = shown  # is a result on screen in some view?
        self._entries: OrderedDict[Hashable, Result] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Result | None:
        with self._lock:
            result = self._entries.get(key)
            if result is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return result

    def has_room(self, nbytes: int) -> bool:
        """Would ``nbytes`` more fit without dropping anything?"""
        return self.nbytes + nbytes <= self.budget

    def put(self, key: Hashable, result: Result) -> None:
        """Keep ``result`` under ``key``; drop the least recently used results
        that no view shows until the budget holds."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._entries[key] = result
            self.nbytes += result.nbytes
            for other in list(self._entries):
                if self.nbytes <= self.budget:
                    break
                victim = self._entries[other]
                if victim is result or self._shown(victim):
                    continue
                del self._entries[other]
                self.nbytes -= victim.nbytes

    def drop(self, owner) -> None:
        """Forget every result of ``owner`` (keys start with it): a detached network."""
        with self._lock:
            for key in [k for k in self._entries if k[0] is owner]:
                self.nbytes -= self._entries.pop(key).nbytes

    def stats(self) -> dict:
        with self._lock:
            return {"entries": len(self._entries), "mb": round(self.nbytes / 2**20, 1),
                    "budget_mb": round(self.budget / 2**20, 1), "hits": self.hits, "misses": self.misses}
