"""Answers the Jupyter server gives again itself, without asking the kernel.

An answer built from one result alone (an activation, a histogram, the
classification, the input, an atlas) comes from the kernel tagged with that
result (``bridge.shown.RESULT_HEADER``); it is kept here under (kernel,
tag, protocol path without the headset's ``h/<name>/``).  A later GET of
the same path is answered from here only while the kernel's state file
says the view shows that very result, else forwarded as always: what is
answered is exactly what the kernel would answer now.  Least recently used
answers go beyond ``budget`` bytes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..bridge import shown

# The routes whose answers depend on one result only, as the kernel's table
# has them (``protocol/app.py``), ids in canonical form only (others are forwarded).
_ID = r"(?:0|[1-9][0-9]{0,8})"
ROUTE = re.compile(rf"(?:h/([A-Za-z0-9._-]{{1,64}})/)?(network/({_ID})/(?:(?:activation|activationhistogram|"
                   rf"weighthistogram|atlas)/layerid/{_ID}|classificationresult|input))/?")
PER_ANSWER_BYTES = 200  # what an entry costs besides its body (key, headers)


@dataclass(frozen=True)
class Answer:
    """What ``forward_to_kernel`` finishes a handler with."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # the kernel's headers that are passed on
    content_type: str
    body: bytes

    @property
    def nbytes(self) -> int:
        return len(self.body) + PER_ANSWER_BYTES


@dataclass(frozen=True)
class Lookup:
    """Where a GET's answer would be kept: the view, and the path without it."""

    view_key: str
    path: str


def lookup_of(path: str) -> Lookup | None:
    """``None``: not a route whose answer is kept."""
    match = ROUTE.fullmatch(path)
    if match is None:
        return None
    view, keyed, network = match.groups()
    return Lookup(shown.view_key(int(network), view), keyed)


class AnswerStore:
    """``budget``: bytes of answers kept (0: none).  ``hits``, ``misses``,
    ``joined`` and ``nbytes`` say what it did (tests, benchmarks).

    ``pending``: key -> a future of the answer a forward now in flight will
    bring (the proxy's): headsets following one view ask the same answers
    at the same moment, and all but the first wait for that one."""

    def __init__(self, budget: int):
        self._budget = budget
        self._answers: OrderedDict[tuple[str, str, str], Answer] = OrderedDict()
        self._process: dict[str, str] = {}  # kernel id -> the process its answers are of
        self._live: frozenset[str] | None = None
        self._paths: dict[str, Path] = {}  # kernel id -> its state file
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.joined = 0  # answers taken from a forward in flight for another request
        self.pending: dict[tuple[str, str, str], object] = {}

    def get(self, entry: dict, lookup: Lookup) -> Answer | None:
        """The kept answer of ``lookup`` for the kernel of registry ``entry``,
        if its view shows now the result that answer was built from."""
        return self.answer_for(self.key_now(entry, lookup))

    def answer_for(self, key: tuple[str, str, str] | None) -> Answer | None:
        """The answer kept under ``key`` (``key_now``), counted as a hit or a miss."""
        answer = self._answers.get(key) if key is not None else None
        if answer is None:
            self.misses += 1
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return answer

    def key_now(self, entry: dict, lookup: Lookup) -> tuple[str, str, str] | None:
        """The key of ``lookup``'s answer for the result its view shows now
        (``None``: the kernel's state file does not say)."""
        process = entry.get(shown.PROCESS_FIELD)
        if not self.budget or not isinstance(process, str):
            return None
        path = self._paths.get(entry["kernel_id"])
        if path is None:  # finding the runtime folder was a tenth of a stored answer's time (profiled)
            path = self._paths[entry["kernel_id"]] = shown.state_path(entry["kernel_id"])
        views = shown.read_state(path, process)
        result = views.get(lookup.view_key) if views is not None else None
        return (entry["kernel_id"], result, lookup.path) if isinstance(result, str) else None

    def put(self, entry: dict, lookup: Lookup, result: str, answer: Answer) -> None:
        """Keep ``answer`` (the kernel's, built from result tag ``result``)."""
        kernel_id, process = entry["kernel_id"], entry.get(shown.PROCESS_FIELD)
        if not isinstance(process, str) or not result.startswith(process + ".") or answer.nbytes > self.budget:
            return
        if self._process.get(kernel_id) != process:  # a new process of this kernel id: the old one's are no use
            self.drop_kernel(kernel_id)
            self._process[kernel_id] = process
        key = (kernel_id, result, lookup.path)
        old = self._answers.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._answers[key] = answer
        self.nbytes += answer.nbytes
        self._trim()

    @property
    def budget(self) -> int:
        return self._budget

    @budget.setter
    def budget(self, budget: int) -> None:
        self._budget = budget
        self._trim()

    def _trim(self) -> None:
        while self.nbytes > self._budget:
            _, dropped = self._answers.popitem(last=False)
            self.nbytes -= dropped.nbytes

    def drop_kernel(self, kernel_id: str) -> None:
        for key in [key for key in self._answers if key[0] == kernel_id]:
            self.nbytes -= self._answers.pop(key).nbytes
        self._process.pop(kernel_id, None)
        self._paths.pop(kernel_id, None)

    def keep_kernels(self, live: frozenset[str]) -> None:
        """Drop the answers of kernels not in ``live`` (gone); nothing to do
        while it is the same object as last time (the router makes a new one
        only when the live kernels change)."""
        if live is self._live:
            return
        self._live = live
        for kernel_id in set(self._process) - live:
            self.drop_kernel(kernel_id)

    def __len__(self) -> int:
        return len(self._answers)
