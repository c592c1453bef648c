"""Feature visualizations of one network (``network.featvis``): background
jobs with progress and cancel, the store, and the client's generate / load modes.

Jobs run one after another on a daemon worker thread, on a copy of the
shadow model taken per weights generation, so an input switch (and every
other request) keeps being answered while a layer is visualised, and a
running job never keeps the interpreter alive: closing the network, the
session or the interpreter cancels it at its next step.  Concurrent requests
for the same layer share one job.  Progress goes to the session's events
(``FeatVisProgress``).  Results are stored per weights fingerprint; when the
cache folder cannot be written they are kept in memory instead.
"""

from __future__ import annotations

import atexit
import collections
import copy
import ctypes
import gc
import hashlib
import json
import logging
import threading
import time
import weakref
from concurrent.futures import Future

import torch

from ..errors import BadRequest, Conflict, NotFound, Unprocessable
from .events import FeatVisProgress
from .featvis import FeatVisCancelled, FeatVisConfig, prepare_model, visualize
from .featvis_jobs import CANCELLED, DONE, FAILED, RUNNING, FeatVisAllJob, FeatVisJob
from .featvis_store import FeatVisStore, weights_fingerprint
from .layers import INFO, Layer

log = logging.getLogger("dvvr.featvis")
GENERATE, LOAD = "generate", "load"


class FeatVisService:
    """The feature visualizations of one network (``network.featvis``).

    ``start(layer)`` / ``start_all()`` run jobs in the background;
    ``images(layer)`` answers the protocol (``mode`` "load": the stored
    pictures of the current weights where they exist, "generate": afresh);
    ``stored``/``stored_channel`` read what exists; ``cancel``, ``delete``,
    ``close``.  ``config`` (a ``dvvr.FeatVisConfig``) applies to jobs started
    after it is set.
    """

    def __init__(self, network, config: FeatVisConfig | None = None):
        self.network = network
        self.config = config or FeatVisConfig()
        # Keyed by the architecture too: another model under the same name
        # (say a resnet50 after a resnet18, both "ResNet") never loads these.
        shape = [(layer.pos, layer.name, layer.kind, layer.shape, layer.precursors) for layer in network.layers]
        signature = hashlib.sha1(json.dumps(shape).encode()).hexdigest()[:12]
        self.store = FeatVisStore(network.cache_dir / "featvis" / signature,
                                  limit_bytes=self.config.cache_mb << 20 if self.config.cache_mb else None)
        self.mode = LOAD
        self._lock = threading.Lock()
        self._jobs: dict[int, FeatVisJob] = {}  # the latest job of each layer
        self._queue: collections.deque[FeatVisJob] = collections.deque()
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._closed = False
        self._weights: tuple[int, str] | None = None  # (shadow generation, fingerprint)
        self._copies: tuple[tuple, list] | None = None  # ((generation, devices), model per device)
        self._memory: dict[tuple[int, str], torch.Tensor] = {}  # results the cache folder refused
        self._store_warned = False
        self._store_lock = threading.Lock()  # storing a result and deleting them all, one at a time
        _SERVICES.add(self)

    @property
    def config(self) -> FeatVisConfig:
        """The settings of jobs started from now on."""
        return self._config

    @config.setter
    def config(self, value: FeatVisConfig) -> None:
        if not isinstance(value, FeatVisConfig):
            msg = f"featvis.config must be a dvvr.FeatVisConfig, got {type(value).__name__}"
            raise TypeError(msg)
        self._config = value

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

    def visualizable(self) -> list[Layer]:
        """The layers that have feature visualizations (not info panels, not the input)."""
        return [layer for layer in self.network.layers if layer.kind != INFO and not self.is_input(layer)]

    def _shape(self, layer: Layer) -> tuple[int, ...]:
        return (layer.channels, 3, *self.network.input_size)

    # --- jobs ---------------------------------------------------------------------
    def start(self, layer) -> FeatVisJob:
        """Visualise every channel of ``layer`` in the background; a job
        already queued or running for it is returned instead of a second one."""
        layer = self._layer(layer)
        if self.is_input(layer):
            msg = f"layer {layer.id} ({layer.name!r}) is the input: it has no feature visualization"
            raise BadRequest(msg, field="layerid")
        with self._lock:
            job = self._jobs.get(layer.id)
            if job is not None and not job.finished:
                return job
            job = self._jobs[layer.id] = FeatVisJob(layer, self.config.steps)
            if self._closed:
                job.state = CANCELLED
            else:
                self._queue.append(job)
                self._ensure_worker()
                self._wake.notify_all()
        if job.state == CANCELLED:
            job.error = "the network was detached"
            job.future.set_exception(Conflict(f"feature visualization of layer {layer.id}: the network was detached"))
        self._emit(job)
        return job

    def start_all(self, layers=None) -> FeatVisAllJob:
        """Every visualizable layer (or ``layers``) as one job, layer after layer."""
        chosen = self.visualizable() if layers is None else [self._layer(layer) for layer in layers]
        return FeatVisAllJob([self.start(layer) for layer in chosen])

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

    # --- the protocol's modes -------------------------------------------------------
    def images(self, layer) -> Future:
        """A future of the layer's images (uint8 [C, 3, H, W]) as the client's
        mode asks: ``load`` answers the pictures of the current weights where
        they exist, ``generate`` computes afresh."""
        layer = self._layer(layer)
        if self.mode == LOAD:
            stored = self.stored(layer)
            if stored is not None:
                done: Future = Future()
                done.set_result(stored)
                return done
            stale = self.store.stale(layer.id, self.current_weights())
            if stale:
                log.info("network %r layer %d: the stored feature visualizations are of other weights (%d "
                         "version(s)); computing them for the current weights", self.network.name, layer.id,
                         len(stale))
        return self.start(layer).future

    def set_mode(self, mode: str) -> None:
        if mode not in (GENERATE, LOAD):
            raise ValueError(f"feature visualization mode must be {GENERATE!r} or {LOAD!r}")
        self.mode = mode

    def delete(self) -> None:
        """Cancel every job and delete the stored visualizations."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            self._memory.clear()
        for job in jobs:
            job.cancel()
        try:
            with self._store_lock:
                self.store.delete_all()
        except OSError as error:
            log.warning("cannot delete the stored feature visualizations in %s: %s", self.store.root, error)

    # --- stored results -----------------------------------------------------------
    def current_weights(self) -> str:
        """Fingerprint of the weights the engine's copy has now (computed once per weights generation)."""
        shadow = self.network.shadow
        with shadow.lock:
            if self._weights is None or self._weights[0] != shadow.generation:
                self._weights = (shadow.generation, weights_fingerprint(shadow.model))
            return self._weights[1]

    def stored(self, layer) -> torch.Tensor | None:
        """The images of ``layer`` for the current weights if they exist (uint8 [C, 3, H, W])."""
        layer = self._layer(layer)
        weights = self.current_weights()
        in_memory = self._memory.get((layer.id, weights))
        if in_memory is not None:
            return in_memory
        return self.store.load(layer.id, weights, self._shape(layer))

    def has_stored(self, layer) -> bool:
        """Whether pictures of ``layer`` for the current weights exist (without reading them)."""
        layer = self._layer(layer)
        weights = self.current_weights()
        return (layer.id, weights) in self._memory or self.store.has(layer.id, weights)

    def stored_channel(self, layer, channel: int) -> torch.Tensor:
        """Image [3, H, W] uint8 of one channel (an input ``FeatVisImage`` shows)."""
        layer = self._layer(layer)
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < layer.channels:
            msg = f"channelID {channel} is out of range: layer {layer.id} has {layer.channels} channels"
            raise NotFound(msg, field="channelID")
        weights = self.current_weights()
        in_memory = self._memory.get((layer.id, weights))
        image = in_memory[channel] if in_memory is not None else self.store.channel(
            layer.id, weights, channel, self._shape(layer))
        if image is None:
            msg = (f"no feature visualization of layer {layer.id} exists yet for the current weights: request "
                   f"network/{self.network.id}/featurevisualization/layerid/{layer.id} first")
            raise BadRequest(msg, field="layerID")
        return image

    def _keep(self, job: FeatVisJob, weights: str, images: torch.Tensor) -> None:
        """Store the result; a folder that refuses it (read-only, full) leaves it in memory."""
        try:
            self.store.limit_bytes = self.config.cache_mb << 20 if self.config.cache_mb else None
            self.store.save(job.layer, weights, images)
            job.stored = True
            return
        except OSError as error:
            if not self._store_warned:
                self._store_warned = True
                log.warning("cannot store feature visualizations in %s (%s): they are computed and kept in memory "
                            "instead, until the weights change", self.store.root, error)
        with self._lock:
            for key in [key for key in self._memory if key[1] != weights]:
                del self._memory[key]  # pictures of weights left behind: never served again
            self._memory[(job.layer, weights)] = images

    # --- the worker ---------------------------------------------------------------
    def _ensure_worker(self) -> None:
        """(under ``_lock``) A daemon thread: it never keeps the interpreter alive."""
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name=f"dvvr-featvis-{self.network.name}",
                                            daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    if self._copies is not None:
                        break  # idle: release first, then wait
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft() if self._queue else None
            if job is None:
                self._release()
                continue
            self._run(job)

    def _release(self) -> None:
        """The queue is empty: give the job's memory back (model copies, allocator caches)."""
        with self._lock:
            self._copies = None
            self._wake.notify_all()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        _malloc_trim()

    def _emit(self, job: FeatVisJob) -> None:
        job._notify()
        self.network._events.emit(FeatVisProgress(self.network, job.layer, job.done, job.total, job.state,
                                                  job.error or ""))

    def _finish(self, job: FeatVisJob, state: str, images=None, error: str | None = None) -> None:
        with self._lock:
            if job.finished:
                return
            job.state, job.error = state, error
        if job.began is not None:
            job.seconds = time.perf_counter() - job.began
        self._emit(job)
        if state == DONE:
            job.future.set_result(images)
        elif state == CANCELLED:
            job.future.set_exception(Conflict(f"feature visualization of layer {job.layer} was cancelled"))
        else:
            msg = f"feature visualization of layer {job.layer} failed on this model: {error}"
            job.future.set_exception(Unprocessable(msg, field="layerid"))

    def _run(self, job: FeatVisJob) -> None:
        network = self.network
        if job.cancelled:
            self._finish(job, CANCELLED)
            return
        job.state, job.began = RUNNING, time.perf_counter()
        self._emit(job)
        try:
            models, weights = self._models()
            start = network.pipeline.to_pixels(network.input.tensor)
            mean, std = network.pipeline.normalize or (None, None)

            def report(done_channels, total):
                job.done = done_channels
                job.seconds = time.perf_counter() - job.began
                self._emit(job)

            images = visualize(models, network.tracking.capture, job.layer, start, range(job.total), mean=mean,
                               std=std, config=self.config, progress=report, should_stop=lambda: job.cancelled,
                               on_step=job._step)
            if images.shape[1] == 1:  # a gray-input network: stored and shown as colour pictures
                images = images.expand(-1, 3, -1, -1).contiguous()
        except FeatVisCancelled:
            self._finish(job, CANCELLED)
            return
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported to the client
            if job.cancelled:  # closing pulled things from under it (the session's pool): not a failure
                self._finish(job, "cancelled")
                return
            log.exception("feature visualization of network %r layer %d failed", network.name, job.layer)
            self._finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        with self._store_lock:  # a delete either sees this stored or stops it being stored
            if job.cancelled:  # deleted while finishing: store nothing
                self._finish(job, CANCELLED)
                return
            self._keep(job, weights, images)
        log.info("network %r layer %d: %d feature visualizations in %.1f s", network.name, job.layer,
                 job.total, time.perf_counter() - job.began)
        self._finish(job, DONE, images)

    def _devices(self) -> tuple[torch.device, ...]:
        return tuple(torch.device(d) for d in (self.config.devices or (self.network.device,)))

    def _models(self) -> tuple[list, str]:
        """One model copy per device (channels-last if configured) and the weights
        fingerprint, taken once per weights generation and shared by the layers
        of a "generate all"."""
        shadow, devices = self.network.shadow, self._devices()
        # Before the copy's lock: the input may need a forward pass, which takes
        # the network's compute lock and then this one (never the other order).
        probe = self.network.input.tensor.unsqueeze(0)  # checks the folded BatchNorms compute the same
        with shadow.lock:
            key = (shadow.generation, devices, self.config.channels_last)
            if self._copies is None or self._copies[0] != key:
                channels_last = self.config.channels_last
                base = shadow.snapshot()  # a copy even of dvvr serve's own models: prepare_model changes it
                home = torch.device(self.network.device)
                models = [prepare_model(base if _same_device(device, home) else copy.deepcopy(base), device,
                                        channels_last, self.network.tracking.capture, probe)
                          for device in devices]
                self._copies = (key, models)
            models = self._copies[1]
        return models, self.current_weights()

    def close(self, wait: float = 0.0) -> None:
        """Cancel every job and stop the worker (``wait``: seconds to wait for it to leave its step)."""
        with self._lock:
            self._closed = True
            queued, self._queue = list(self._queue), collections.deque()
            self._wake.notify_all()
            worker = self._worker
        self.cancel()
        for job in queued:  # will never run: release whoever waits
            self._finish(job, CANCELLED, error="the network was detached")
        if wait and worker is not None and worker is not threading.current_thread():
            worker.join(wait)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cuda":
        return (a.index or 0) == (b.index or 0)
    return True


def _malloc_trim() -> None:
    """glibc keeps freed memory of large tensors in its arenas; hand it back to the system."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


_SERVICES: weakref.WeakSet[FeatVisService] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    """Interpreter exit: running jobs stop at their next step (a second at most is waited for)."""
    services = list(_SERVICES)
    for service in services:
        service.close()
    deadline = time.monotonic() + 1.0
    for service in services:
        worker = service._worker
        if worker is not None and worker.is_alive():
            worker.join(max(0.0, deadline - time.monotonic()))
