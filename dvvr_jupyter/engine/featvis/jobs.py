"""Feature-visualization jobs: what a caller holds while a layer (or every
layer) is visualised in the background.

A job is watched three ways: its attributes (``state``, ``done``/``total``
channels, ``fraction`` of the work, ``seconds``), the session's
``FeatVisProgress`` events, or ``wait(progress=True)``, which draws a
``tqdm.auto`` bar (a widget in Jupyter) until the job ends.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import torch

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class FeatVisJob:
    """The feature visualization of one layer, running in the background.

    ``state`` is ``"queued"``, ``"running"``, ``"done"``, ``"failed"`` or
    ``"cancelled"``; ``done``/``total`` count finished channels and
    ``fraction`` the optimisation steps done (it moves within a batch);
    ``result()`` waits for the images (uint8 [C, 3, H, W]) once they are
    stored; ``pictures`` is a future of the same images as soon as they are
    computed (the protocol answers from it while they are written to the
    cache folder); ``cancel()`` stops it at its next step.
    """

    def __init__(self, layer, steps: int):
        self.layer: int = layer.id
        self.layers: tuple[int, ...] = (layer.id,)
        self.total: int = layer.channels
        self.done = 0
        self.state = QUEUED
        self.error: str | None = None
        self.began: float | None = None
        self.seconds = 0.0
        self.stored = False  # the result was written to the cache folder
        self.weights_version: int | None = None  # the network's weights generation the job visualises
        # the pictures of the batches finished so far (uint8 [C, 3, H, W]) and which channels they are
        self.partial: torch.Tensor | None = None
        self.ready: list[bool] = [False] * layer.channels
        self.future: Future = Future()
        self.pictures: Future = Future()  # set before ``future``: before the images are stored
        self._steps_total = max(1, layer.channels * max(1, steps))
        self._steps_done = 0
        self._cancel = threading.Event()
        self._changed = threading.Condition()
        self._watchers: list[FeatVisJob] = []  # an all-layers job following this one

    # --- progress ---------------------------------------------------------------
    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1 (1 once finished, whatever the outcome)."""
        return 1.0 if self.finished else min(1.0, self._steps_done / self._steps_total)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (None until a step was made, or once finished)."""
        if self.finished or self.began is None or self._steps_done == 0:
            return None
        elapsed = time.perf_counter() - self.began
        return elapsed * (self._steps_total - self._steps_done) / self._steps_done

    def _batch(self, images: torch.Tensor, first: int, last: int) -> None:
        """A batch of channels is finished: its pictures can be shown before the rest."""
        self.partial = images
        self.ready[first:last] = [True] * (last - first)

    def _step(self, channels: int) -> None:
        self._steps_done += channels
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
        for watcher in self._watchers:
            watcher._notify()

    # --- control ----------------------------------------------------------------
    def cancel(self) -> None:
        """Stop at the next optimisation step; ``result()`` then raises."""
        self._cancel.set()
        self._notify()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def result(self, timeout: float | None = None) -> torch.Tensor:
        """The images (uint8 [C, 3, H, W]); raises if the job failed or was cancelled."""
        return self.future.result(timeout)

    def wait(self, timeout: float | None = None, *, progress: bool = False):
        """Wait for the job to finish (``progress=True``: with a ``tqdm.auto``
        bar), then return ``result()``; ``TimeoutError`` if it still runs after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _progress_bar(self) if progress else None
        try:
            with self._changed:
                while not self.finished:
                    if bar is not None:
                        bar.n = round(self.fraction * bar.total, 1)
                        bar.set_postfix_str(f"{self.done}/{self.total} channels", refresh=True)
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._changed.wait(left)
            if bar is not None:
                bar.n = round(self.fraction * bar.total, 1)
                bar.set_postfix_str(f"{self.done}/{self.total} channels, {self.state}", refresh=True)
        finally:
            if bar is not None:
                bar.close()
        return self.result(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def __repr__(self) -> str:
        return f"<dvvr FeatVisJob layer {self.layer}: {self.state} {self.done}/{self.total}>"


class FeatVisAllJob(FeatVisJob):
    """Several layers as one job (``network.featvis.start_all()``): the same
    attributes, summed over its ``parts`` (one ``FeatVisJob`` per layer, run
    one after another); ``result()`` is ``{layer id: images}``."""

    def __init__(self, parts: list[FeatVisJob]):  # not FeatVisJob.__init__: every figure comes from the parts
        self.parts = tuple(parts)
        self.layer = None
        self.layers = tuple(part.layer for part in parts)
        self.error = None
        self.stored = False
        self._cancel = threading.Event()
        self._changed = threading.Condition()
        self._watchers = []
        self.future = Future()
        for part in parts:
            part._watchers.append(self)
            part.future.add_done_callback(self._part_finished)
        if not parts:
            self.future.set_result({})

    total = property(lambda self: sum(part.total for part in self.parts))
    done = property(lambda self: sum(part.done for part in self.parts))
    began = property(lambda self: min((p.began for p in self.parts if p.began is not None), default=None))
    seconds = property(lambda self: sum(part.seconds for part in self.parts))

    @property
    def state(self) -> str:
        states = {part.state for part in self.parts}
        if not states or states == {DONE}:
            return DONE
        if not states <= set(FINISHED):
            return RUNNING if states - {QUEUED} else QUEUED
        return FAILED if FAILED in states else CANCELLED

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        weights = sum(part.total for part in self.parts) or 1
        return sum(part.fraction * part.total for part in self.parts) / weights

    def cancel(self) -> None:
        self._cancel.set()
        for part in self.parts:
            part.cancel()

    def _part_finished(self, _future) -> None:
        self._notify()
        if all(part.future.done() for part in self.parts) and not self.future.done():
            failed = next((part.future.exception() for part in self.parts if part.future.exception()), None)
            if failed is not None:
                self.error = str(failed)
                self.future.set_exception(failed)
            else:
                self.stored = all(part.stored for part in self.parts)
                self.future.set_result({part.layer: part.future.result() for part in self.parts})

    def __repr__(self) -> str:
        return f"<dvvr FeatVisAllJob {len(self.parts)} layers: {self.state} {self.done}/{self.total}>"


def _progress_bar(job: FeatVisJob):
    """A ``tqdm.auto`` bar over 100 % of the job, or None without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    what = f"layer {job.layer}" if job.layer is not None else f"{len(job.layers)} layers"
    return tqdm(total=100.0, desc=f"feature visualization, {what}", unit="%",
                bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}{postfix}]")


@dataclass(frozen=True)
class WarmUp:
    """A throw-away batch of ``layer`` run at attach on an accelerator (``FeatVisService.warm_up``)."""

    layer: int
