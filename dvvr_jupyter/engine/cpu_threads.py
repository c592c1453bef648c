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
import threading
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


def _in_a_new_thread(call, *args):
    """``call(*args)`` in a thread that has run no parallel op (it reads or sets torch's default)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call(*args)), name="dvvr-torch-threads")
    thread.start()
    thread.join()
    return out[0]


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads for the calling thread while the block runs.

    ``torch.set_num_threads`` sets the calling thread's count and also the
    default a thread takes at its first parallel op: left there for the
    pass, a user's thread (the notebook's main thread training, a feature
    visualization) starting its work meanwhile kept ``count`` for good.  So
    the default is put back at once from a throwaway thread (whose own count
    does not matter); only the calling thread runs with ``count``, and gets
    its own count back after, exception or not.  Threads already running
    keep theirs throughout."""
    previous = torch.get_num_threads()
    if count == previous:
        yield
        return
    default = _in_a_new_thread(torch.get_num_threads)
    torch.set_num_threads(count)
    _in_a_new_thread(torch.set_num_threads, default)  # microseconds after: no public per-thread setting
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        if previous != default:
            _in_a_new_thread(torch.set_num_threads, default)
