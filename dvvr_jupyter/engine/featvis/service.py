"""Feature visualizations of one network (``network.featvis``): what can be
visualised, starting and cancelling jobs, and reading their results.

Jobs run one after another on a daemon worker (``job_queue``), on model
copies taken per weights generation (``copies``), so an input switch (and
every other request) keeps being answered while a layer is visualised, and
a running job never keeps the interpreter alive: closing the network, the
session or the interpreter (``at_exit``) cancels it at its next step.
Concurrent requests for the same layer share one job.  Progress goes to the
session's events (``FeatVisProgress``).  Results are stored per weights
fingerprint (``results``: the cache folder, else memory); the client's
modes are in ``modes``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import Future

import torch

from ...errors import BadRequest, Conflict, NotFound, Unprocessable
from ..events import FeatVisProgress
from ..layers import INFO, RECORD_INPUT, Layer
from .at_exit import stop_at_exit
from .config import GPU_BATCH, FeatVisConfig
from .copies import ModelCopies
from .job_queue import JobQueue
from .jobs import CANCELLED, DONE, FAILED, RUNNING, FeatVisAllJob, FeatVisJob, WarmUp
from .memory import release_memory
from .method import FeatVisCancelled, visualize
from .modes import LOAD, check_mode, images_for_mode
from .results import Results
from .store import FeatVisStore

log = logging.getLogger("dvvr.featvis")
DETACHED = "the network was detached"
STEP_EMIT_S = 0.5  # progress events during a batch: at most this often


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
        self.store = FeatVisStore(network.cache_dir / "featvis" / signature, limit_bytes=self._limit_bytes())
        self.results = Results(self.store)
        self.copies = ModelCopies(network)
        self.queue = JobQueue(f"dvvr-featvis-{network.name}", self._run, self._release)
        self.mode = LOAD
        self._lock = threading.Lock()
        self._jobs: dict[int, FeatVisJob] = {}  # the latest job of each layer

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

    def _limit_bytes(self) -> int | None:
        return self.config.cache_mb << 20 if self.config.cache_mb else None

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
        return layer.id == 0 or (spec.source == "" and spec.record == RECORD_INPUT)

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
            if self.queue.put(job):
                stop_at_exit(self)
            else:
                job.state = CANCELLED
        if job.state == CANCELLED:
            job.error = DETACHED
            for future in (job.pictures, job.future):
                future.set_exception(Conflict(f"feature visualization of layer {layer.id}: {DETACHED}"))
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
    def images(self, layer, *, stored: bool = True) -> Future:
        """A future of the layer's images (uint8 [C, 3, H, W]) as the client's
        mode asks (``modes``).  Computed ones are there once stored in the
        cache folder; ``stored=False``: as soon as they are computed (the
        protocol encodes its answer while they are written)."""
        return images_for_mode(self, self._layer(layer), self.mode, stored=stored)

    def set_mode(self, mode: str) -> None:
        self.mode = check_mode(mode)

    def delete(self) -> None:
        """Cancel every job and delete the stored visualizations."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            self.results.forget_memory()
        for job in jobs:
            job.cancel()
        try:
            self.results.delete_all()
        except OSError as error:
            log.warning("cannot delete the stored feature visualizations in %s: %s", self.store.root, error)

    # --- stored results -----------------------------------------------------------
    def current_weights(self) -> str:
        """Fingerprint of the weights the engine's copy has now (computed once per weights generation)."""
        return self.copies.weights()

    def stored(self, layer) -> torch.Tensor | None:
        """The images of ``layer`` for the current weights if they exist (uint8 [C, 3, H, W])."""
        layer = self._layer(layer)
        return self.results.load(layer.id, self.current_weights(), self._shape(layer))

    def has_stored(self, layer) -> bool:
        """Whether pictures of ``layer`` for the current weights exist (without reading them)."""
        layer = self._layer(layer)
        return self.results.has(layer.id, self.current_weights())

    def layers_with_pictures(self) -> set[int]:
        """Ids of the layers that have stored pictures of any weights (one look at the folder)."""
        return {layer for _, layer, _ in self.store._files()} | {layer for layer, _ in self.results._memory}

    def older(self, layer) -> tuple[torch.Tensor, int | None] | None:
        """Stored pictures of ``layer`` for other weights than the current
        ones (the latest known), and the weights generation they belong to
        (None: from an earlier run); None if there are none."""
        layer = self._layer(layer)
        fingerprints = self.results.stale(layer.id, self.current_weights())
        versions = self.copies.versions
        for fingerprint in sorted(fingerprints, key=lambda f: versions.get(f, -1), reverse=True):
            images = self.results.load(layer.id, fingerprint, self._shape(layer))
            if images is not None:
                return images, versions.get(fingerprint)
        return None

    def stored_channel(self, layer, channel: int) -> torch.Tensor:
        """Image [3, H, W] uint8 of one channel (an input ``FeatVisImage`` shows)."""
        layer = self._layer(layer)
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < layer.channels:
            msg = f"channelID {channel} is out of range: layer {layer.id} has {layer.channels} channels"
            raise NotFound(msg, field="channelID")
        image = self.results.channel(layer.id, self.current_weights(), channel, self._shape(layer))
        if image is None:
            msg = (f"no feature visualization of layer {layer.id} exists yet for the current weights: request "
                   f"network/{self.network.id}/featurevisualization/layerid/{layer.id} first")
            raise BadRequest(msg, field="layerID")
        return image

    # --- warming the device up ----------------------------------------------------
    def warm_up(self) -> None:
        """On CUDA: queue a short job (one batch of the deepest layer, its
        steps, thrown away) so the device's kernels and libraries are loaded
        on the worker thread at attach, not on the client's first request
        (about half a second on an H200).  Real jobs queue behind it."""
        layers = self.visualizable()
        if self.network.device.type == "cuda" and layers:
            self.queue.put(WarmUp(layers[-1].id))

    def _warm(self, warm: WarmUp) -> None:
        network = self.network
        try:
            models, _ = self.copies.models(self.config)
            start = network.pipeline.to_pixels(network.input.tensor)
            mean, std = network.pipeline.normalize or (None, None)
            channels = range(min(network.layers[warm.layer].channels, GPU_BATCH))
            visualize(models, network.tracking.capture, warm.layer, start, channels, mean=mean, std=std,
                      config=self.config, should_stop=lambda: self.queue.closed)
        except Exception:  # noqa: BLE001 - only a head start; a real job reports its own failure
            log.debug("warming up feature visualization of network %r failed", network.name, exc_info=True)

    # --- running a job (on the queue's worker) --------------------------------------
    def _release(self) -> None:
        """The queue ran dry: give the jobs' memory back (model copies, allocator caches)."""
        self.copies.drop()
        release_memory()

    def _emit(self, job: FeatVisJob) -> None:
        job._notify()
        self.network._events.emit(FeatVisProgress(self.network, job.layer, job.done, job.total, job.state,
                                                  job.error or ""))

    def _finish(self, job: FeatVisJob, state: str, error: str | None = None) -> None:
        """A job that ends without pictures: cancelled or failed."""
        with self._lock:
            if job.finished:
                return
            job.state, job.error = state, error
        if job.began is not None:
            job.seconds = time.perf_counter() - job.began
        self._emit(job)
        if state == CANCELLED:
            failure = Conflict(f"feature visualization of layer {job.layer} was cancelled")
        else:
            msg = f"feature visualization of layer {job.layer} failed on this model: {error}"
            failure = Unprocessable(msg, field="layerid")
        for future in (job.pictures, job.future):
            future.set_exception(failure)

    def _pictures_done(self, job: FeatVisJob, weights: str, images: torch.Tensor) -> bool:
        """The job's pictures exist: readable (held in memory), "done" and
        handed to ``job.pictures`` before they are stored (the protocol's answer
        is encoded meanwhile); ``job.future`` follows once they are.  False if
        the job was cancelled first."""
        self.results.hold(job.layer, weights, images)
        with self._lock:
            if job.finished or job.cancelled:
                self.results.drop_held(job.layer, weights)
                return False
            job.state = DONE
        job.seconds = time.perf_counter() - job.began
        job.pictures.set_result(images)
        self._emit(job)
        return True

    def _run(self, job: FeatVisJob | WarmUp) -> None:
        if isinstance(job, WarmUp):
            self._warm(job)
            return
        network = self.network
        if job.cancelled:
            self._finish(job, CANCELLED)
            return
        job.state, job.began = RUNNING, time.perf_counter()
        self._emit(job)
        try:
            models, weights = self.copies.models(self.config)
            job.weights_version = self.copies.versions.get(weights)
            start = network.pipeline.to_pixels(network.input.tensor)
            mean, std = network.pipeline.normalize or (None, None)

            def report(done_channels, total):
                job.done = done_channels
                job.seconds = time.perf_counter() - job.began
                self._emit(job)

            last_emit = [0.0]

            def step(channels):
                # progress per optimisation step (a batch of channels takes many), at most twice a second
                job._step(channels)
                now = time.perf_counter()
                if now - last_emit[0] >= STEP_EMIT_S:
                    last_emit[0] = now
                    job.seconds = now - job.began
                    self._emit(job)

            images = visualize(models, network.tracking.capture, job.layer, start, range(job.total), mean=mean,
                               std=std, config=self.config, progress=report, should_stop=lambda: job.cancelled,
                               on_step=step, on_batch=job._batch)
            if images.shape[1] == 1:  # a gray-input network: stored and shown as colour pictures
                images = images.expand(-1, 3, -1, -1).contiguous()
        except FeatVisCancelled:
            self._finish(job, CANCELLED)
            return
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported to the client
            if job.cancelled:  # closing pulled things from under it (the session's pool): not a failure
                self._finish(job, CANCELLED)
                return
            log.exception("feature visualization of network %r layer %d failed", network.name, job.layer)
            self._finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        if not self._pictures_done(job, weights, images):
            self._finish(job, CANCELLED)
            return
        with self.results.writing:  # a delete either sees this stored or stops it being stored
            try:
                if not job.cancelled:  # deleted while finishing: the pictures are answered, not stored
                    job.stored = self.results.keep(job.layer, weights, images, self._limit_bytes())
            finally:
                self.results.drop_held(job.layer, weights)
        log.info("network %r layer %d: %d feature visualizations in %.1f s", network.name, job.layer,
                 job.total, time.perf_counter() - job.began)
        job.future.set_result(images)

    def close(self, wait: float = 0.0) -> None:
        """Cancel every job and stop the worker (``wait``: seconds to wait for it to leave its step)."""
        queued = self.queue.close()
        self.cancel()
        for job in queued:  # will never run: release whoever waits
            if isinstance(job, FeatVisJob):
                self._finish(job, CANCELLED, error=DETACHED)
        self.queue.join(wait)
        self.copies.drop()  # a worker closed within its idle time never released them
