"""Where finished feature visualizations are kept: the cache folder's
store, or memory when the folder refuses them (read-only, full).

Kept in memory, a result lives until the weights change: pictures of
weights left behind are never served again.  Between being computed and
being stored, a result is readable from memory too (``hold``): the
protocol answers with it meanwhile, and the client may ask for one of its
channels as an input before the file is written.
"""

from __future__ import annotations

import logging
import threading

import torch

from .store import FeatVisStore

log = logging.getLogger("dvvr.featvis")


class Results:
    """Results by (layer id, weights fingerprint): ``store`` first, then memory.

    ``writing`` is held while a result is stored and while everything is
    deleted, so a delete either sees a result stored or stops it being stored.
    """

    def __init__(self, store: FeatVisStore):
        self.store = store
        self.writing = threading.Lock()
        self._lock = threading.Lock()
        self._memory: dict[tuple[int, str], torch.Tensor] = {}
        self._held: dict[tuple[int, str], torch.Tensor] = {}  # computed, being stored
        self._warned = False

    def _in_memory(self, layer: int, weights: str) -> torch.Tensor | None:
        key = (layer, weights)
        found = self._memory.get(key)
        return found if found is not None else self._held.get(key)

    def hold(self, layer: int, weights: str, images: torch.Tensor) -> None:
        """Readable from now on, until ``keep`` stored them or ``drop_held``."""
        with self._lock:
            self._held[(layer, weights)] = images

    def drop_held(self, layer: int, weights: str) -> None:
        with self._lock:
            self._held.pop((layer, weights), None)

    def load(self, layer: int, weights: str, shape: tuple[int, ...]) -> torch.Tensor | None:
        in_memory = self._in_memory(layer, weights)
        if in_memory is not None:
            return in_memory
        return self.store.load(layer, weights, shape)

    def has(self, layer: int, weights: str) -> bool:
        """Whether a result exists (without reading it)."""
        return self._in_memory(layer, weights) is not None or self.store.has(layer, weights)

    def channel(self, layer: int, weights: str, channel: int, shape: tuple[int, ...]) -> torch.Tensor | None:
        in_memory = self._in_memory(layer, weights)
        if in_memory is not None:
            return in_memory[channel]
        return self.store.channel(layer, weights, channel, shape)

    def stale(self, layer: int, weights: str) -> list:
        """Stored results of ``layer`` for other weights."""
        return self.store.stale(layer, weights)

    def keep(self, layer: int, weights: str, images: torch.Tensor, limit_bytes: int | None) -> bool:
        """(under ``writing``) Store ``images``; ``True`` if the folder took them,
        ``False`` if they are kept in memory instead."""
        try:
            self.store.limit_bytes = limit_bytes
            self.store.save(layer, weights, images)
            self.drop_held(layer, weights)
            return True
        except OSError as error:
            if not self._warned:
                self._warned = True
                log.warning("cannot store feature visualizations in %s (%s): they are computed and kept in memory "
                            "instead, until the weights change", self.store.root, error)
        with self._lock:
            for key in [key for key in self._memory if key[1] != weights]:
                del self._memory[key]  # pictures of weights left behind: never served again
            self._memory[(layer, weights)] = images
            self._held.pop((layer, weights), None)
        return False

    def forget_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._held.clear()

    def delete_all(self) -> None:
        """Delete every stored result (``OSError`` if the folder refuses)."""
        with self.writing:
            self.store.delete_all()
