"""Each kernel's bounded share of the forwarding client, so that slow or
abandoned requests never block other sessions, headsets or the explorer.

Before, every forwarded request took one of the HTTP client's 64 slots for
as long as the kernel took (a feature visualization: minutes), and the 65th
request, to any kernel or route, queued behind them.  Now a request first
takes a slot of its *share*: one per kernel and kind of route (the VR path's
quick routes, its slow ones, its long polls of live events, the explorer), a
few dozen slots each.  Beyond
them it waits in the share's line (not in the client), and the line is
bounded: past ``max_waiting`` requests, or after waiting ``wait`` seconds,
the answer is 503 with ``Retry-After``.  A request whose client hangs up
leaves the line at once; one in flight is aborted within about a second
(``forward.abort_when``), which frees its slot.  The client's own pool is
larger than all shares of one kernel together, so a kernel cannot fill it.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field

from ..errors import Unavailable

#: VR routes that can take minutes in the kernel (they wait on feature-visualization jobs or write files).
SLOW_ROUTE = re.compile(r"(?:h/[^/]*/)?network/[^/]+/(?:featurevisualization/layerid|export/layerid)/")
#: The long poll of live events (each headset keeps one waiting, up to ~20 s): a share of its own.
EVENTS_ROUTE = re.compile(r"(?:h/[^/]*/)?events/")


class Busy(Unavailable):
    """A share's slots and line are full: 503 with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after)))}


@dataclass
class Share:
    slots: int  # requests in flight at most
    max_waiting: int  # requests in line at most
    wait: float  # seconds one request may wait in line
    busy: int = 0
    line: deque = field(default_factory=deque)


class Shares:
    """``async with shares.slot(key, kind):`` around a forward."""

    def __init__(self, limits: dict[str, tuple[int, int, float]], retry_after: float = 5.0):
        self.limits = limits  # kind -> (slots, max_waiting, wait)
        self.retry_after = retry_after
        self._shares: dict[tuple[str, str], Share] = {}

    def in_flight(self, kernel_id: str) -> int:
        return sum(share.busy for (kid, _), share in self._shares.items() if kid == kernel_id)

    def waiting(self, kernel_id: str) -> int:
        return sum(len(share.line) for (kid, _), share in self._shares.items() if kid == kernel_id)

    def slot(self, kernel_id: str, kind: str, gone: asyncio.Future | None = None) -> _Slot:
        """A slot of ``kernel_id``'s share for ``kind``; ``gone`` is set when the client hangs up."""
        key = (kernel_id, kind)
        if key not in self._shares:
            self._shares[key] = Share(*self.limits[kind])
        return _Slot(self, self._shares[key], kind, gone)

    def _busy(self, kind: str, why: str) -> Busy:
        return Busy(f"this session's {kind} requests are {why}: try again in {self.retry_after:g} s",
                    retry_after=self.retry_after)


class ClientGone(Unavailable):
    """The client hung up while its request waited for a slot."""


class _Slot:
    def __init__(self, shares: Shares, share: Share, kind: str, gone: asyncio.Future | None):
        self.shares, self.share, self.kind, self.gone = shares, share, kind, gone

    async def __aenter__(self):
        share = self.share
        if share.busy < share.slots and not share.line:
            share.busy += 1
            return self
        if len(share.line) >= share.max_waiting:
            raise self.shares._busy(self.kind, f"at their limit ({share.slots} in flight, {share.max_waiting} waiting)")
        turn = asyncio.get_running_loop().create_future()
        share.line.append(turn)
        waits = {turn} if self.gone is None else {turn, self.gone}
        await asyncio.wait(waits, timeout=share.wait, return_when=asyncio.FIRST_COMPLETED)
        if turn.done():
            if self.gone is not None and self.gone.done():  # handed a slot as its client left: pass it on
                self._release()
                raise ClientGone("the client hung up")
            return self
        share.line.remove(turn)
        if self.gone is not None and self.gone.done():
            raise ClientGone("the client hung up")
        raise self.shares._busy(self.kind, f"waiting longer than {share.wait:g} s for a slot")

    async def __aexit__(self, *exc):
        self._release()

    def _release(self) -> None:
        share = self.share
        while share.line:  # hand the slot to the next one still waiting
            turn = share.line.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        share.busy -= 1
