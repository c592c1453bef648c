"""The queue of one network's feature-visualization jobs and the worker
thread that runs them, one after another.

The worker is a daemon thread: a running job never keeps the interpreter
alive.  Once the queue has been dry for ``idle_s`` seconds it calls
``on_idle`` (the service drops its model copies and empties the allocator
caches there) before it waits for the next job.  Not at once: the client
asks for layers one after another, and releasing between them cost the next
job its model copies again (about 50 ms on an H200) and, worse, ran a full
garbage collection (about 0.2 s holding the interpreter lock) while the
finished job's answer was being encoded.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from .jobs import FeatVisJob

IDLE_S = 5.0  # a dry queue releases its memory after this long without a new job


class JobQueue:
    """Jobs waiting for the worker; ``run(job)`` is called for each on the worker thread."""

    def __init__(self, name: str, run: Callable[[FeatVisJob], None], on_idle: Callable[[], None],
                 idle_s: float = IDLE_S):
        self.idle_s = idle_s
        self._name = name
        self._run = run
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: collections.deque[FeatVisJob] = collections.deque()
        self._worker: threading.Thread | None = None
        self._closed = False

    @property
    def worker(self) -> threading.Thread | None:
        return self._worker

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, job: FeatVisJob) -> bool:
        """Queue ``job``; ``False`` once the queue is closed (the job will never run)."""
        with self._lock:
            if self._closed:
                return False
            self._queue.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._worker.start()
            self._wake.notify_all()
            return True

    def close(self) -> list[FeatVisJob]:
        """Stop taking jobs and wake the worker so it leaves; returns the jobs that will never run."""
        with self._lock:
            self._closed = True
            queued, self._queue = list(self._queue), collections.deque()
            self._wake.notify_all()
        return queued

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the worker to leave (never from the worker itself)."""
        worker = self._worker
        if timeout and worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _work(self) -> None:
        busy = False  # jobs ran since the last on_idle
        while True:
            with self._lock:
                if busy and not self._queue and not self._closed:
                    self._wake.wait(self.idle_s)  # a job soon after keeps what the last one left
                while not self._queue and not self._closed:
                    if busy:
                        break  # idle: release first, then wait
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft() if self._queue else None
            if job is None:
                busy = False
                self._on_idle()
                continue
            busy = True
            self._run(job)
