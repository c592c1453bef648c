"""Idle-time work: compute the inputs a client can pick next before it asks.

While no request runs, the results of every dataset page image and the
current noise image are computed into the session's shared result cache, one
at a time; the next switch to any of them needs no forward pass.  The work
stops between two inputs as soon as a request arrives, never evicts anything
for a guess (it stops when the cache is full), and is meant for servers whose
weights do not change (``dvvr serve``): in a kernel the user's training would
share the CPU with it.
"""

from __future__ import annotations

import logging
import threading
import time

from .inputs import DatasetImage, NoiseImage

log = logging.getLogger("dvvr.precompute")


class Precomputer:
    """Watches requests (``started``/``finished``) and works while none runs."""

    def __init__(self, session, idle_seconds: float = 0.25):
        self.session = session
        self.idle_seconds = idle_seconds
        self.computed = 0
        self._cond = threading.Condition()
        self._running = 0  # requests in flight
        self._last = time.monotonic()
        self._dirty = True  # something may be worth computing
        self._stopped = False
        #: True once a whole pass found nothing left to compute (until the next request)
        self.settled = False
        self._thread = threading.Thread(target=self._run, name="dvvr-precompute", daemon=True)
        self._thread.start()

    # --- called by the server --------------------------------------------------------
    def started(self) -> None:
        with self._cond:
            self._running += 1

    def finished(self) -> None:
        with self._cond:
            self._running -= 1
            self._last = time.monotonic()
            if not self._dirty:  # a new noise image, new weights, a new network: look again
                self._dirty = True
                self.settled = False
                self._cond.notify_all()  # once per burst: the worker times its own waits from here on

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # --- the worker ------------------------------------------------------------------
    def _busy(self) -> bool:
        return self._stopped or self._running > 0 or time.monotonic() - self._last < self.idle_seconds

    def _wait_until_idle(self) -> bool:
        """Block until requests stopped for ``idle_seconds``; False once stopped.
        While requests come, the worker wakes on its own timer (no wake-up
        per request on the server's loop)."""
        with self._cond:
            while not self._stopped:
                if not self._dirty:
                    self._cond.wait()
                    continue
                remaining = self.idle_seconds - (time.monotonic() - self._last)
                if not self._running and remaining <= 0:
                    self._dirty = False
                    return True
                self._cond.wait(max(remaining, self.idle_seconds / 4))
        return False

    def _candidates(self):
        for network in list(self.session.networks):
            for generator in list(self.session.noise_generators):
                if tuple(generator.size) == tuple(network.input_size):
                    yield network, NoiseImage(generator)
            if network.dataset is not None:
                for index in range(len(network.dataset)):
                    yield network, DatasetImage(network.dataset, index)

    def _run(self) -> None:
        while self._wait_until_idle():
            computed = 0
            for network, source in self._candidates():
                if self._busy():
                    break
                try:
                    if network.precompute(source, should_stop=self._busy):
                        computed += 1
                except Exception:  # noqa: BLE001 - a guess that failed; the real request will say why
                    log.debug("precomputing %s failed", source, exc_info=True)
            else:
                with self._cond:
                    if computed:
                        self._dirty = True  # look once more: a pass that computes nothing settles
                    else:
                        self.settled = not self._dirty
            self.computed += computed
