"""Feature visualization jobs of one network: modes, storage, progress.

Jobs run on their own worker threads on a snapshot of the shadow model, so an
input switch (and every other request) keeps being answered while a layer is
visualised.  Concurrent requests for the same layer share one job.
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
from .featvis import FeatVisCancelled, FeatVisConfig, FeatVisStore, visualize
from .result import check_layer_id

log = logging.getLogger("dvvr.featvis")
GENERATE, LOAD = "generate", "load"


class FeatVisService:
    def __init__(self, network, config: FeatVisConfig | None = None, workers: int = 1):
        self.network = network
        self.config = config or FeatVisConfig()
        # Keyed by the architecture too: another model under the same name
        # (say a resnet50 after a resnet18, both "ResNet") never loads these.
        signature = hashlib.sha1(json.dumps(network.architecture()["architecture"]).encode()).hexdigest()[:12]
        self.store = FeatVisStore(network.cache_dir / "featvis" / signature)
        self._snapshot: tuple[int, object] | None = None  # (weights generation, model copy)
        self.mode = LOAD
        self._lock = threading.Lock()
        self._jobs: dict[int, Future] = {}
        self._progress: dict[int, dict] = {}
        self._generation = 0  # bumped by delete: running jobs stop and store nothing
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dvvr-featvis")

    def set_mode(self, mode: str) -> None:
        if mode not in (GENERATE, LOAD):
            raise ValueError(f"feature visualization mode must be {GENERATE!r} or {LOAD!r}")
        self.mode = mode

    def delete(self) -> None:
        with self._lock:
            self._generation += 1
            self._jobs.clear()
            self._progress.clear()
        self.store.delete_all()

    def progress(self) -> dict:
        with self._lock:
            return {"mode": self.mode, "layers": {str(k): dict(v) for k, v in self._progress.items()}}

    def images(self, layer_id: int) -> Future:
        """A future of uint8 images [C, 3, H, W] for ``layer_id``."""
        network = self.network
        check_layer_id(layer_id, network.layers)
        layer = network.layers[layer_id]
        size = network._architecture[layer_id]["size"]
        if layer.info_only or size == [0]:
            msg = f"layer {layer_id} ({layer.name!r}) is an info panel: it has no channels to visualise"
            raise BadRequest(msg, field="layerid")
        done: Future = Future()
        if layer_id == 0 or (layer.source == "" and layer.record == "input"):
            # The input layer: as the original, one tiny black image per channel.
            done.set_result(torch.zeros(size[1], 3, 1, 1, dtype=torch.uint8))
            return done
        if self.mode == LOAD:
            stored = self._stored(layer_id)
            if stored is not None:
                done.set_result(stored)
                return done
        with self._lock:
            job = self._jobs.get(layer_id)
            if job is None or (job.done() and self.mode == GENERATE):
                job = self._executor.submit(self._run, layer_id, self._generation)
                self._jobs[layer_id] = job
                job.add_done_callback(lambda f, layer=layer_id: self._forget(layer, f))
            return job

    def _forget(self, layer_id: int, job: Future) -> None:
        with self._lock:
            if self._jobs.get(layer_id) is job:
                del self._jobs[layer_id]

    def _run(self, layer_id: int, generation: int) -> torch.Tensor:
        network = self.network
        n_channels = network.architecture()["architecture"][layer_id]["size"][1]
        model = self._model_copy()
        start = network.pipeline.to_pixels(network.current_input()).to(network.device)
        mean, std = network.pipeline.normalize or (None, None)
        began = time.perf_counter()

        def report(done_channels, total):
            with self._lock:
                self._progress[layer_id] = {"done": done_channels, "total": total, "state": "running",
                                            "seconds": round(time.perf_counter() - began, 1)}

        report(0, n_channels)
        try:
            images = visualize(model, network.capture, layer_id, start, range(n_channels), mean=mean, std=std,
                               config=self.config, progress=report,
                               should_stop=lambda: generation != self._generation)
        except FeatVisCancelled:
            raise Conflict(f"feature visualization of layer {layer_id} was cancelled (results deleted)") from None
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported to the client
            log.exception("feature visualization of network %r layer %d failed", network.name, layer_id)
            with self._lock:
                self._progress[layer_id] = {"done": 0, "total": n_channels, "state": "failed", "error": str(exc)}
            msg = f"feature visualization of layer {layer_id} failed on this model: {type(exc).__name__}: {exc}"
            raise Unprocessable(msg, field="layerid") from None
        with self._lock:
            if generation != self._generation:
                raise Conflict(f"feature visualization of layer {layer_id} was cancelled (results deleted)")
            self._progress[layer_id] = {"done": n_channels, "total": n_channels, "state": "done",
                                        "seconds": round(time.perf_counter() - began, 1)}
        self.store.save(layer_id, images)
        log.info("network %r layer %d: %d feature visualizations in %.1f s", network.name, layer_id,
                 n_channels, time.perf_counter() - began)
        return images

    def stored_channel(self, layer_id: int, channel_id: int) -> torch.Tensor:
        """Stored image [3, H, W] uint8 of one channel (the input for mode 3)."""
        check_layer_id(layer_id, self.network.layers)
        images = self._stored(layer_id)
        if images is None:
            msg = (f"no feature visualization of layer {layer_id} exists yet: request "
                   f"network/{self.network.network_id}/featurevisualization/layerid/{layer_id} first")
            raise BadRequest(msg, field="layerID")
        channels = self.network.architecture()["architecture"][layer_id]["size"][1]
        if not 0 <= channel_id < channels:
            msg = f"channelID {channel_id} is out of range: layer {layer_id} has {channels} channels"
            raise NotFound(msg, field="channelID")
        return images[channel_id]

    def _stored(self, layer_id: int):
        """The stored images of a layer if they fit it ([C, 3, H, W] of this network)."""
        images = self.store.load(layer_id)
        size = self.network.architecture()["architecture"][layer_id]["size"]
        expected = (size[1], 3, *self.network.input_size)
        return images if images is not None and tuple(images.shape) == expected else None

    def _model_copy(self):
        """One copy of the weights per weight generation, shared by the layers
        of a "generate all" (instead of one deep copy per layer)."""
        shadow = self.network.shadow
        with self._lock:
            if self._snapshot is None or self._snapshot[0] != shadow.generation:
                self._snapshot = (shadow.generation, shadow.snapshot())
            return self._snapshot[1]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
