"""Noise generators: a new random colour image on each request."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

KINDS = ("uniform", "gaussian")


class NoiseGenerator:
    """Makes random RGB images of ``size`` (height, width).

    ``generate()`` makes a new image, which becomes the current one (the input
    for ``mode 4``).
    """

    def __init__(self, size=(224, 224), kind: str = "uniform", *, seed: int | None = None, name: str | None = None):
        if kind not in KINDS:
            msg = f"noise kind must be one of {KINDS}, got {kind!r}"
            raise ValueError(msg)
        height, width = (size, size) if isinstance(size, int) else size
        self.size = (int(height), int(width))
        self.kind = kind
        self.name = name or f"{kind} noise {height}x{width}"
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._current: Image.Image | None = None
        #: bumped by each new image (results computed for one image are shared by key)
        self.version = 0

    def generate(self) -> Image.Image:
        with self._lock:
            shape = (*self.size, 3)
            if self.kind == "uniform":
                pixels = self._rng.integers(0, 256, shape, dtype=np.uint8)
            else:
                pixels = np.clip(self._rng.normal(127.5, 50.0, shape), 0, 255).astype(np.uint8)
            self._current = Image.fromarray(pixels)
            self.version += 1
            return self._current

    @property
    def current(self) -> Image.Image:
        """The last generated image (one is made on first use)."""
        with self._lock:
            current = self._current
        return current if current is not None else self.generate()
