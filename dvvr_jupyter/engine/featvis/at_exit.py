"""Interpreter exit: running feature-visualization jobs stop at their next step.

Registered with ``atexit`` when the first job starts, not at import: a
process that never visualises anything has nothing to stop.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref

#: how long the exit waits, at most, for every worker together to leave its
#: step (a worker normally leaves within one step, milliseconds).  Generous on
#: purpose: a worker still inside torch when the interpreter tears down can
#: abort the process (SIGABRT, seen with 1 s on a heavily loaded 2-core machine).
EXIT_WAIT_S = 5.0

_services: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def stop_at_exit(service) -> None:
    """Close ``service`` (a ``FeatVisService``) when the interpreter exits."""
    global _registered
    with _lock:
        if not _registered:
            atexit.register(_stop_all)
            _registered = True
        _services.add(service)


def _stop_all() -> None:
    services = list(_services)
    for service in services:
        service.close()
    deadline = time.monotonic() + EXIT_WAIT_S
    for service in services:
        service.queue.join(max(0.0, deadline - time.monotonic()))
