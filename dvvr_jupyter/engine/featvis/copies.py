"""The model copies a feature-visualization job runs on: one per device,
taken from the engine's copy once per weights generation and shared by the
layers of a "generate all"."""

from __future__ import annotations

import copy
import threading

import torch

from .method import prepare_model
from .store import weights_fingerprint


class ModelCopies:
    """One network's prepared model copies (``models()``) and the fingerprint
    of the weights they hold (``weights()``)."""

    def __init__(self, network):
        self.network = network
        self.changed = threading.Condition()  # notified when the copies are dropped
        self._closed = False  # the service closed: copies a job still makes are not kept
        self._copies: tuple[tuple, list] | None = None  # ((generation, devices, channels_last), model per device)
        self._weights: tuple[int, str] | None = None  # (shadow generation, fingerprint)
        self.versions: dict[str, int] = network.weights_versions  # fingerprint -> generation

    @property
    def held(self) -> bool:
        """Whether copies are kept (between the jobs of one queue)."""
        return self._copies is not None

    def weights(self) -> str:
        """Fingerprint of the weights the engine's copy has now (computed once per weights generation)."""
        shadow = self.network.shadow
        with shadow.lock:
            if self._weights is None or self._weights[0] != shadow.generation:
                self._weights = (shadow.generation, weights_fingerprint(shadow.model))
                self.versions.setdefault(self._weights[1], shadow.generation)
            return self._weights[1]

    def models(self, config) -> tuple[list, str]:
        """One model copy per device of ``config`` (channels-last if it says so)
        and the weights fingerprint."""
        network = self.network
        shadow = network.shadow
        devices = tuple(torch.device(d) for d in (config.devices or (network.device,)))
        # Before the copy's lock: the input may need a forward pass, which takes
        # the network's compute lock and then this one (never the other order).
        probe = network.input.tensor.unsqueeze(0)  # checks the folded BatchNorms compute the same
        with shadow.lock:
            key = (shadow.generation, devices, config.channels_last)
            kept = self._copies  # read once: close() may drop them meanwhile
            if kept is None or kept[0] != key:
                base = shadow.snapshot()  # a copy even of dvvr serve's own models: prepare_model changes it
                home = torch.device(network.device)
                models = [prepare_model(base if _same_device(device, home) else copy.deepcopy(base), device,
                                        config.channels_last, network.tracking.capture, probe)
                          for device in devices]
                with self.changed:  # closed while they were made: used by the job (it stops), not kept
                    if not self._closed:
                        self._copies = (key, models)
            else:
                models = kept[1]
            return models, self.weights()  # under the same lock: the fingerprint of the weights copied

    def close(self) -> None:
        """Drop the copies and keep none made from now on (a job mid-way when the service closed)."""
        with self.changed:
            self._closed = True
            self._copies = None
            self.changed.notify_all()

    def drop(self) -> None:
        """Forget the copies (the queue ran dry: their memory goes back)."""
        with self.changed:
            self._copies = None
            self.changed.notify_all()


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cuda":
        return (a.index or 0) == (b.index or 0)
    return True
