"""Stored feature visualizations of one network: ``layer_<i>.npy`` files.

``.npy`` rather than ``torch.save``: loading needs no pickle (safe on a file
someone else wrote), and a single channel (the input ``FeatVisImage`` asks
for) is read through a memory map without loading the whole layer.  Writes
are atomic (a temporary file renamed into place); a file that cannot be read
or has the wrong shape is removed and counts as missing.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("dvvr.featvis")


class FeatVisStore:
    """Stored visualizations of one network: ``layer_<i>.npy`` files under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def _path(self, layer_index: int) -> Path:
        return self.root / f"layer_{int(layer_index)}.npy"

    def save(self, layer_index: int, images: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            msg = f"expected uint8 images [C, 3, H, W], got {images.dtype} {tuple(images.shape)}"
            raise ValueError(msg)
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(layer_index)
        # Written outside the lock (it may be large); only the rename is guarded.
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, images.detach().cpu().numpy())
                f.flush()
                os.fsync(f.fileno())
            with self._lock:
                os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _read(self, layer_index: int, mmap: bool, shape: tuple[int, ...] | None):
        """The stored array (memory-mapped if asked), or None; a bad file is removed."""
        path = self._path(layer_index)
        if not path.exists():
            return None
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            if array.dtype != np.uint8 or array.ndim != 4 or (shape is not None and array.shape != tuple(shape)):
                msg = f"holds {array.dtype} {array.shape}, not uint8 {shape or '[C, 3, H, W]'}"
                raise ValueError(msg)
            return array
        except (OSError, ValueError, EOFError) as error:
            log.warning("removing unreadable feature visualization %s: %s", path, error)
            path.unlink(missing_ok=True)
            return None

    def load(self, layer_index: int, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The layer's images (uint8 [C, 3, H, W], of ``shape`` if given), or None."""
        with self._lock:
            array = self._read(layer_index, mmap=False, shape=shape)
        return None if array is None else torch.from_numpy(array)

    def channel(self, layer_index: int, c: int, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """Image [3, H, W] of one channel; None if the layer or channel is not stored."""
        with self._lock:
            array = self._read(layer_index, mmap=True, shape=shape)
            if array is None or not 0 <= c < array.shape[0]:
                return None
            image = np.array(array[c])  # a copy: the memory map closes with ``array``
        return torch.from_numpy(image)

    def has(self, layer_index: int) -> bool:
        with self._lock:
            return self._path(layer_index).exists()

    def delete_all(self) -> None:
        with self._lock:
            for path in self.root.glob("layer_*.npy"):
                path.unlink(missing_ok=True)
