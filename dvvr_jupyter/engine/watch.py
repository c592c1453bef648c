"""Following a training loop: refresh the VR view every N optimizer steps.

``step()`` copies the live weights right away, in the training thread and
between two optimizer steps, so the copy is never torn; the forward pass and
encoding then run on the engine's workers while training goes on.  The VR
client sees the new answers on its next request (the protocol has no push).
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future

from ..errors import Conflict
from .events import ORIGIN_WATCH


class Watcher:
    def __init__(self, networks, every_n_steps: int, pool):
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            msg = f"every_n_steps must be a positive integer, got {every_n_steps!r}"
            raise ValueError(msg)
        self.networks = list(networks)
        self.every_n_steps = every_n_steps
        self.steps = 0
        self.refreshes = 0
        self._pool = pool
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._warned: set[int] = set()

    def step(self) -> None:
        """Call after each optimizer step."""
        self.steps += 1
        if self.steps % self.every_n_steps:
            return
        for network in self.networks:
            with self._lock:
                pending = self._pending.get(id(network))
                if pending is not None and not pending.done():
                    continue  # the last refresh is still running: skip, never queue up
                try:
                    copied = network.sync_weights(blocking=False)  # never stall the training loop
                except Conflict as exc:
                    if id(network) not in self._warned:
                        self._warned.add(id(network))
                        warnings.warn(exc.message, stacklevel=2)
                    continue
                if not copied:
                    continue  # a client's forward pass holds the copy right now: next time
                self._pending[id(network)] = self._pool.submit(network.refresh, sync=False, origin=ORIGIN_WATCH)
                self.refreshes += 1

    def wait(self, timeout: float | None = None) -> None:
        """Wait for refreshes in flight (tests, end of training)."""
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            future.result(timeout)

    def __repr__(self) -> str:
        return f"<dvvr Watcher every {self.every_n_steps} steps: {self.steps} steps, {self.refreshes} refreshes>"
