"""Stored feature visualizations of one network, keyed by layer and weights.

One ``.npy`` file per (layer, weights fingerprint): ``layer_<i>-<weights>-<crc>.npy``.

- ``.npy`` rather than ``torch.save``: loading needs no pickle (safe on a
  file someone else wrote), and one channel (what an input ``FeatVisImage``
  asks for) is read through a memory map.
- The weights fingerprint in the name: pictures of weights the model has
  since left behind are never served as current (``stale`` lists them).
- The CRC-32 of the file's bytes in the name: a truncated or corrupted
  file is detected, removed and counts as missing (it is then recomputed).
- Writes are atomic (a temporary file renamed into place).
- A size limit: past it the least recently used files go (a read touches
  its file's modification time, the clock used here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("dvvr.featvis")
_NAME = re.compile(r"layer_(\d+)-([0-9a-f]+)-([0-9a-f]{8})\.npy")


def weights_fingerprint(model: torch.nn.Module) -> str:
    """16 hex digits naming the model's weights and buffers (names, shapes, dtypes, values)."""
    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(data.view(torch.uint8).numpy() if data.numel() else b"")
    return digest.hexdigest()


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


class FeatVisStore:
    """``layer_<i>-<weights>-<crc>.npy`` files under ``root``, at most ``limit_bytes`` in all."""

    def __init__(self, root: Path, limit_bytes: int | None = None):
        self.root = Path(root)
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._verified: set[tuple[str, int]] = set()  # (name, mtime_ns) whose CRC matched

    # --- finding files ----------------------------------------------------------
    def _files(self, layer_index: int | None = None) -> list[tuple[Path, int, str]]:
        """(path, layer, weights) of every stored file (of one layer if given)."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        found = []
        for name in names:
            match = _NAME.fullmatch(name)
            if match and (layer_index is None or int(match[1]) == layer_index):
                found.append((self.root / name, int(match[1]), match[2]))
        return found

    def _find(self, layer_index: int, weights: str) -> Path | None:
        return next((path for path, _, w in self._files(layer_index) if w == weights), None)

    def stale(self, layer_index: int, weights: str) -> list[str]:
        """Fingerprints of weights (other than ``weights``) the layer has stored pictures of."""
        with self._lock:
            return sorted({w for _, _, w in self._files(layer_index) if w != weights})

    # --- writing ----------------------------------------------------------------
    def save(self, layer_index: int, weights: str, images: torch.Tensor) -> None:
        """Store the layer's images for ``weights``.  Raises ``OSError`` if the
        folder cannot be written (read-only, full): the caller decides."""
        if images.dtype != torch.uint8 or images.dim() != 4:
            msg = f"expected uint8 images [C, 3, H, W], got {images.dtype} {tuple(images.shape)}"
            raise ValueError(msg)
        if not re.fullmatch(r"[0-9a-f]+", weights):
            msg = f"a weights fingerprint is lowercase hex, got {weights!r}"
            raise ValueError(msg)
        self.root.mkdir(parents=True, exist_ok=True)
        # Written outside the lock (it may be large); only the rename is guarded.
        fd, temp = tempfile.mkstemp(prefix=f".layer_{layer_index}.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, images.detach().cpu().numpy())
                f.flush()
                os.fsync(f.fileno())
            path = self.root / f"layer_{int(layer_index)}-{weights}-{_crc(Path(temp)):08x}.npy"
            with self._lock:
                old = self._find(layer_index, weights)
                os.replace(temp, path)
                if old is not None and old != path:
                    old.unlink(missing_ok=True)
                self._evict(keep=path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _evict(self, keep: Path) -> None:
        """Least recently used files go until the rest fits ``limit_bytes``."""
        if self.limit_bytes is None:
            return
        files = []
        for path, _, _ in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit_bytes:
                break
            if path == keep:
                continue
            log.info("feature visualization cache over %d MB: removing %s", self.limit_bytes >> 20, path.name)
            path.unlink(missing_ok=True)
            total -= size

    # --- reading ----------------------------------------------------------------
    def _read(self, layer_index: int, weights: str, mmap: bool, shape: tuple[int, ...] | None):
        """The stored array (memory-mapped if asked), or None; a bad file is removed."""
        path = self._find(layer_index, weights)
        if path is None:
            return None
        try:
            stat = path.stat()
            key = (path.name, stat.st_mtime_ns)
            if key not in self._verified:
                expected = int(_NAME.fullmatch(path.name)[3], 16)
                if _crc(path) != expected:
                    msg = "its checksum does not match (truncated or corrupted)"
                    raise ValueError(msg)
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            if array.dtype != np.uint8 or array.ndim != 4 or (shape is not None and array.shape != tuple(shape)):
                msg = f"holds {array.dtype} {array.shape}, not uint8 {shape or '[C, 3, H, W]'}"
                raise ValueError(msg)
        except (OSError, ValueError, EOFError) as error:
            log.warning("removing unreadable feature visualization %s: %s", path, error)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # recently used: evicted last
            key = (path.name, path.stat().st_mtime_ns)
        except OSError:
            pass  # a read-only folder: nothing is evicted from it either
        self._verified.add(key)
        return array

    def load(self, layer_index: int, weights: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The layer's images for ``weights`` (uint8 [C, 3, H, W], of ``shape`` if given), or None."""
        with self._lock:
            array = self._read(layer_index, weights, mmap=False, shape=shape)
        return None if array is None else torch.from_numpy(array)

    def channel(self, layer_index: int, weights: str, c: int,
                shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """Image [3, H, W] of one channel; None if the layer or channel is not stored."""
        with self._lock:
            array = self._read(layer_index, weights, mmap=True, shape=shape)
            if array is None or not 0 <= c < array.shape[0]:
                return None
            image = np.array(array[c])  # a copy: the memory map closes with ``array``
        return torch.from_numpy(image)

    def has(self, layer_index: int, weights: str) -> bool:
        with self._lock:
            return self._find(layer_index, weights) is not None

    def delete_all(self) -> None:
        with self._lock:
            for path, _, _ in self._files():
                path.unlink(missing_ok=True)
            self._verified.clear()
