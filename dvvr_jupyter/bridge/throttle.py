"""Slowing down the guessing of a capability token, per client address.

Each address may send a burst of ``allowance`` wrong tokens; after that it
gets one more wrong try per ``interval`` seconds and every other wrong token
is refused unanswered (429), so guessing runs at one try a second however
fast the requests come.  The token is compared first: the right one always
passes, so a burst of wrong tokens from the headset's address (a process on
the same machine, a shared NAT or proxy) never keeps the headset out.  Each burst is logged once: its first wrong
token, and the previous burst's count with it.

``check`` is the one token check of every route that takes a capability
token (the Jupyter server's VR path, ``dvvr serve --token``).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass

from ..errors import NotFound, TooManyRequests


@dataclass
class _Bucket:
    tries: float  # wrong tokens this address may still send at once
    stamp: float  # when ``tries`` was last brought up to date
    burst: int = 0  # wrong tokens in the current burst
    previous: int = 0  # wrong tokens in the burst before


class WrongTokenThrottle:
    """``check(address, given, token)`` for each request; underneath,
    ``retry_after(address)`` before comparing a token (0: go ahead) and
    ``failed(address)`` after a wrong one.  ``wrong`` is the message of the
    404 a wrong token gets.  Thread-safe."""

    def __init__(self, log: logging.Logger, *, what: str = "VR token", wrong: str = "no such VR URL",
                 allowance: int = 10, interval: float = 1.0, max_addresses: int = 4096, clock=time.monotonic):
        self.log = log
        self.what = what
        self.wrong = wrong
        self.allowance = allowance
        self.interval = interval
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, address: str, given: str | None, token: str | None) -> None:
        """Pass if ``given`` is ``token`` (compared first, literally, in
        constant time): the right token always passes, however many wrong
        ones its address sent.  A wrong one raises ``TooManyRequests`` (429)
        while ``address`` is held back, else ``NotFound`` (404) and counts.
        Both are already reported (a burst is logged once): callers log them
        at DEBUG at most."""
        if matches(given, token):
            return
        wait = self.retry_after(address)
        if wait:
            raise TooManyRequests(f"too many wrong {self.what}s from {address}: try again in {wait:.1f} s",
                                  retry_after=wait)
        self.failed(address)
        raise NotFound(self.wrong)

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tries = min(self.allowance, bucket.tries + (now - bucket.stamp) / self.interval)
        bucket.stamp = now

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try a token again (0.0: now)."""
        with self._lock:
            bucket = self._buckets.get(address)
            if bucket is None:
                return 0.0
            self._refill(bucket, self._clock())
            return 0.0 if bucket.tries >= 1 else (1 - bucket.tries) * self.interval

    def failed(self, address: str) -> None:
        """Count a wrong token from ``address``; the first of a burst is logged."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(address)
            if bucket is None:
                if len(self._buckets) >= self.max_addresses:
                    self._forget_idle(now)
                bucket = self._buckets[address] = _Bucket(self.allowance, now)
            self._refill(bucket, now)
            starts_burst = bucket.tries >= self.allowance
            if starts_burst:
                bucket.previous, bucket.burst = bucket.burst, 0
            bucket.burst += 1
            bucket.tries = max(0.0, bucket.tries - 1)
            previous = bucket.previous
        if starts_burst:
            before = f"; {previous} in its previous burst" if previous > 1 else ""
            self.log.warning("dvvr: wrong %s from %s (more from this address are held to one try per %g s and not "
                             "logged until it pauses%s)", self.what, address, self.interval, before)

    def _forget_idle(self, now: float) -> None:
        for address in list(self._buckets):
            bucket = self._buckets[address]
            self._refill(bucket, now)
            if bucket.tries >= self.allowance:
                del self._buckets[address]
        while len(self._buckets) >= self.max_addresses:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]


def matches(given: str | None, token: str | None) -> bool:
    """Is ``given`` the (non-empty) ``token``?  Compared in constant time."""
    if not token or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape"))
