"""Feature visualization jobs of one network: background jobs with progress
and cancel, the store, and the client's generate / load modes.

Jobs run on their own worker thread on a snapshot of the shadow model, so an
input switch (and every other request) keeps being answered while a layer is
visualised.  Concurrent requests for the same layer share one job.  Progress
goes to the session's events (``FeatVisProgress``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from ..errors import BadRequest, Conflict, NotFound, Unprocessable
from .events import FeatVisProgress
from .featvis import FeatVisCancelled, FeatVisConfig, visualize
from .featvis_store import FeatVisStore
from .layers import INFO, Layer

log = logging.getLogger("dvvr.featvis")
GENERATE, LOAD = "generate", "load"


class FeatVisJob:
    """The feature visualization of one layer, running in the background.

    ``state`` is ``"queued"``, ``"running"``, ``"done"``, ``"failed"`` or
    ``"cancelled"``; ``done``/``total`` count channels; ``result()`` waits
    for the images (uint8 [C, 3, H, W]); ``cancel()`` stops it at its next step.
    """

    def __init__(self, layer: Layer):
        self.layer = layer.id
        self.total = layer.channels
        self.done = 0
        self.state = "queued"
        self.error: str | None = None
        self.began: float | None = None
        self.seconds = 0.0
        self.future: Future = Future()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def result(self, timeout: float | None = None) -> torch.Tensor:
        return self.future.result(timeout)

    def __repr__(self) -> str:
        return f"<dvvr FeatVisJob layer {self.layer}: {self.state} {self.done}/{self.total}>"


class FeatVisService:
    """The feature visualizations of one network (``network.featvis``)."""

    def __init__(self, network, config: FeatVisConfig | None = None, workers: int = 1):
        self.network = network
        self.config = config or FeatVisConfig()
        # Keyed by the architecture too: another model under the same name
        # (say a resnet50 after a resnet18, both "ResNet") never loads these.
        shape = [(layer.pos, layer.name, layer.kind, layer.shape, layer.precursors) for layer in network.layers]
        signature = hashlib.sha1(json.dumps(shape).encode()).hexdigest()[:12]
        self.store = FeatVisStore(network.cache_dir / "featvis" / signature)
        self._snapshot: tuple[int, object] | None = None  # (weights generation, model copy)
        self.mode = LOAD
        self._lock = threading.Lock()
        self._jobs: dict[int, FeatVisJob] = {}  # the latest job of each layer
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dvvr-featvis")

    # --- what can be visualised ---------------------------------------------------
    def _layer(self, ref) -> Layer:
        layer = self.network.layer(ref)
        if layer.kind == INFO:
            msg = f"layer {layer.id} ({layer.name!r}) is an info panel: it has no channels to visualise"
            raise BadRequest(msg, field="layerid")
        return layer

    def is_input(self, ref) -> bool:
        """The input layer: its feature visualization would be the input itself."""
        layer = self.network.layer(ref)
        spec = self.network.tracking.specs[layer.id]
        return layer.id == 0 or (spec.source == "" and spec.record == "input")

    def _shape(self, layer: Layer) -> tuple[int, ...]:
        return (layer.channels, 3, *self.network.input_size)

    # --- jobs ---------------------------------------------------------------------
    def start(self, layer, *, fresh: bool = True) -> FeatVisJob:
        """Visualise every channel of ``layer`` in the background; a job already
        running for it is returned instead of starting a second one
        (``fresh=False``: a finished successful job is returned too)."""
        layer = self._layer(layer)
        if self.is_input(layer):
            msg = f"layer {layer.id} ({layer.name!r}) is the input: it has no feature visualization"
            raise BadRequest(msg, field="layerid")
        with self._lock:
            job = self._jobs.get(layer.id)
            if job is not None and (not job.finished or (not fresh and job.state == "done")):
                return job
            job = self._jobs[layer.id] = FeatVisJob(layer)
        self._emit(job)
        try:
            self._executor.submit(self._run, job)
        except RuntimeError:  # closed: the network was detached
            self._finish(job, "cancelled", error="the network was detached")
        return job

    def job(self, layer) -> FeatVisJob | None:
        """The latest job of ``layer`` (running or finished), if any."""
        return self._jobs.get(self.network.layer(layer).id)

    def jobs(self) -> dict[int, FeatVisJob]:
        with self._lock:
            return dict(self._jobs)

    def cancel(self, layer=None) -> None:
        """Cancel the job of ``layer`` (default: every job)."""
        with self._lock:
            jobs = list(self._jobs.values()) if layer is None else [self._jobs.get(self.network.layer(layer).id)]
        for job in jobs:
            if job is not None:
                job.cancel()

    def images(self, layer) -> Future:
        """A future of the layer's images (uint8 [C, 3, H, W]) as the client's
        mode asks: ``load`` answers from the store where it can, ``generate``
        computes afresh."""
        layer = self._layer(layer)
        if self.mode == LOAD:
            stored = self.stored(layer)
            if stored is not None:
                done: Future = Future()
                done.set_result(stored)
                return done
        return self.start(layer, fresh=self.mode == GENERATE).future

    def set_mode(self, mode: str) -> None:
        if mode not in (GENERATE, LOAD):
            raise ValueError(f"feature visualization mode must be {GENERATE!r} or {LOAD!r}")
        self.mode = mode

    def delete(self) -> None:
        """Cancel every job and delete the stored visualizations."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.cancel()
        self.store.delete_all()

    # --- stored results -----------------------------------------------------------
    def stored(self, layer) -> torch.Tensor | None:
        """The stored images of ``layer`` if they fit it (uint8 [C, 3, H, W])."""
        layer = self._layer(layer)
        return self.store.load(layer.id, self._shape(layer))

    def stored_channel(self, layer, channel: int) -> torch.Tensor:
        """Stored image [3, H, W] uint8 of one channel (an input ``FeatVisImage`` shows)."""
        layer = self._layer(layer)
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < layer.channels:
            msg = f"channelID {channel} is out of range: layer {layer.id} has {layer.channels} channels"
            raise NotFound(msg, field="channelID")
        image = self.store.channel(layer.id, channel, self._shape(layer))
        if image is None:
            msg = (f"no feature visualization of layer {layer.id} exists yet: request "
                   f"network/{self.network.id}/featurevisualization/layerid/{layer.id} first")
            raise BadRequest(msg, field="layerID")
        return image

    # --- running ------------------------------------------------------------------
    def _emit(self, job: FeatVisJob) -> None:
        self.network._events.emit(FeatVisProgress(self.network, job.layer, job.done, job.total, job.state,
                                                  job.error or ""))

    def _finish(self, job: FeatVisJob, state: str, images=None, error: str | None = None) -> None:
        with self._lock:
            if job.finished:
                return  # closing and the worker both finished it
            job.state, job.error = state, error
        if job.began is not None:
            job.seconds = time.perf_counter() - job.began
        self._emit(job)
        if state == "done":
            job.future.set_result(images)
        elif state == "cancelled":
            job.future.set_exception(Conflict(f"feature visualization of layer {job.layer} was cancelled"))
        else:
            msg = f"feature visualization of layer {job.layer} failed on this model: {error}"
            job.future.set_exception(Unprocessable(msg, field="layerid"))

    def _run(self, job: FeatVisJob) -> None:
        network = self.network
        if job.cancelled:
            self._finish(job, "cancelled")
            return
        job.state, job.began = "running", time.perf_counter()
        self._emit(job)
        try:
            model = self._model_copy()
            start = network.pipeline.to_pixels(network.input.tensor).to(network.device)
            mean, std = network.pipeline.normalize or (None, None)

            def report(done_channels, total):
                job.done = done_channels
                job.seconds = time.perf_counter() - job.began
                self._emit(job)

            images = visualize(model, network.tracking.capture, job.layer, start, range(job.total), mean=mean,
                               std=std, config=self.config, progress=report, should_stop=lambda: job.cancelled)
        except FeatVisCancelled:
            self._finish(job, "cancelled")
            return
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported to the client
            if job.cancelled:  # closing pulled things from under it (the session's pool): not a failure
                self._finish(job, "cancelled")
                return
            log.exception("feature visualization of network %r layer %d failed", network.name, job.layer)
            self._finish(job, "failed", error=f"{type(exc).__name__}: {exc}")
            return
        if job.cancelled:  # deleted while finishing: store nothing
            self._finish(job, "cancelled")
            return
        self.store.save(job.layer, images)
        log.info("network %r layer %d: %d feature visualizations in %.1f s", network.name, job.layer,
                 job.total, time.perf_counter() - job.began)
        self._finish(job, "done", images)

    def _model_copy(self):
        """One copy of the weights per weight generation, shared by the layers
        of a "generate all" (instead of one deep copy per layer)."""
        shadow = self.network.shadow
        with self._lock:
            if self._snapshot is None or self._snapshot[0] != shadow.generation:
                self._snapshot = (shadow.generation, shadow.snapshot())
            return self._snapshot[1]

    def close(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for job in self.jobs().values():
            if job.state == "queued":  # will never run: release whoever waits
                self._finish(job, "cancelled", error="the network was detached")
