"""How many intra-op threads the engine's CPU forward pass takes.

A switch's forward pass runs while the session's workers already encode the
layers it has recorded, and the server and its clients answer requests on
the same cores.  With torch's default (an OpenMP team of one thread per
core) the pass fought them for every core, and a team whose threads are
descheduled waits at each barrier: on the 2-core machine, with the cores
busy, a pass of the demo network took 3-7 times as long with 2 intra-op
threads as with 1.  The pass leaves one core to the rest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def forward_threads() -> int:
    """One core fewer than the process may use, never more than torch's own setting, at least one."""
    return max(1, min(torch.get_num_threads(), cores() - 1))


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads for the calling thread while the block runs.

    ``torch.set_num_threads`` sets the calling thread's count and the default
    of threads that have not run a parallel op yet; both are put back after
    (threads already running keep theirs throughout: the user's own code is
    not slowed).  A thread whose first parallel op falls inside the block
    keeps ``count`` for good: torch offers no per-thread setting that leaves
    the default alone."""
    previous = torch.get_num_threads()
    if count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
