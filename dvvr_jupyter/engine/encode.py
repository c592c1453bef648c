"""Tensors to pictures and numbers: PNG bytes, per-layer scaling, 16-bin histograms.

Activation layers hold up to a few hundred channels; the client asks for
every layer on each input change, so PNGs are written directly (deflate
releases the GIL, so layers encode in parallel threads) rather than through
an image library's per-image overhead.  The deflate streams come from ISA-L
(``isal``) where it is installed: at level 1 the same size as zlib's level
1 in about a third of the time (measured on the Caltech network's 643 maps
of one input: 15 ms instead of 43 ms, 878 kB against 888 kB); else zlib.
Numpy, not torch: several layers encode at once on worker threads, and
torch would run each op on its own intra-op thread pool on top of them.
"""

from __future__ import annotations

import functools
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

try:
    from isal.isal_zlib import compress as _deflate  # zlib-format streams, any reader decodes them
except ImportError:  # a platform without its wheels
    from zlib import compress as _deflate

import numpy as np
import torch
from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 3: 2}  # grayscale, RGB
# Measured on the demo's maps with zlib: 11 ms vs 15 ms at level 6 for the
# same size (0.71 of raw); level 0 halves the encoding floor but sends 25-30 %
# more bytes and made the demo's switch slower.  ISA-L's level 1 matches zlib's.
ZLIB_LEVEL = 1
HISTOGRAM_BINS = 16


@dataclass(frozen=True)
class Histogram:
    """Counts per bin and the bins' centres (16 bins, as the client shows)."""

    counts: tuple[int, ...]
    centres: tuple[float, ...]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of a uint8 array, HxW (gray) or HxWx3 (RGB)."""
    if pixels.dtype != np.uint8:
        msg = f"png_bytes needs uint8 pixels, got {pixels.dtype}"
        raise TypeError(msg)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" per scanline
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return b"".join((_PNG_SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", _deflate(rows.tobytes(), ZLIB_LEVEL)), _chunk(b"IEND", b"")))


def pil_png(image: Image.Image) -> bytes:
    """Colour PNG of a PIL image at its own size (dataset thumbnails, noise)."""
    return png_bytes(np.asarray(image.convert("RGB")))


def layer_array(activation: torch.Tensor) -> np.ndarray:
    """A layer ([C, H, W] or [C]) as finite float32 numpy [C, H, W]."""
    data = activation.detach().cpu().float().numpy()
    if data.ndim == 1:
        data = data.reshape(-1, 1, 1)
    if not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return data


def scale_layer(data: np.ndarray) -> tuple[np.ndarray, int, float, float]:
    """Scale a whole layer to 0..255 with one min and one max (not per channel).

    Returns ``(uint8 pixels, zero_value, low, high)``; ``zero_value`` is where
    0.0 lands on that scale (clamped to 0..255): the client's colour map turns there.
    """
    low, high = float(data.min()), float(data.max())
    span = high - low if high > low else 1.0
    scaled = (data - np.float32(low)) * np.float32(255.0 / span)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    zero_value = int(round(min(max(-low * 255.0 / span, 0.0), 255.0)))
    return scaled.astype(np.uint8), zero_value, low, high


def _bins(low: float, high: float, bins: int) -> tuple[float, ...]:
    edges = np.linspace(low, high, bins + 1)
    return tuple(float(c) for c in (edges[1:] + edges[:-1]) / 2)


def histogram(values: torch.Tensor | np.ndarray, bins: int = HISTOGRAM_BINS) -> Histogram:
    """Histogram of any tensor's finite values (weights); a constant tensor
    gets numpy's convention of a unit-wide range around its value."""
    data = values.detach().float().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    data = data.ravel()
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        finite = np.zeros(1, dtype=np.float32)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    try:
        counts, _ = np.histogram(finite, bins=bins, range=(low, high))
    except ValueError:  # a range float32 cannot split into bins: a constant of 2**19 or more, a few ulps
        counts = _histogram64(finite, low, high, bins)
    return Histogram(tuple(int(c) for c in counts), _bins(low, high, bins))


def _histogram64(data: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """``np.histogram``'s counts, binned in float64 (every value in the middle
    bin when even float64 cannot tell ``low`` from ``high``)."""
    if high > low:
        index = ((data.astype(np.float64) - low) * (bins / (high - low))).astype(np.int64)
        np.clip(index, 0, bins - 1, out=index)
    else:
        index = np.full(data.size, bins // 2, dtype=np.int64)
    return np.bincount(index, minlength=bins)


def layer_histogram(data: np.ndarray, low: float, high: float, bins: int = HISTOGRAM_BINS) -> Histogram:
    """Histogram of a layer already scanned for its range by ``scale_layer``
    (one pass of integer binning instead of numpy's general histogram)."""
    if high <= low:
        return histogram(data, bins)
    index = ((data - np.float32(low)) * np.float32(bins / (high - low))).astype(np.int64)
    np.minimum(index, bins - 1, out=index)  # the maximum belongs to the last bin, as in numpy
    counts = np.bincount(index.ravel(), minlength=bins)
    return Histogram(tuple(int(c) for c in counts), _bins(low, high, bins))


_IEND = _chunk(b"IEND", b"")
_IDAT_CRC = zlib.crc32(b"IDAT")
# Below this many bytes a zlib stream with one "stored" block is written by
# hand: starting deflate costs more than the few bytes it could save.
STORED_BELOW = 1024


_ADLER_MOD = 65521


def _stored_pngs(rows: np.ndarray, head: bytes) -> list[bytes]:
    """PNGs of [N, H, 1 + W] scanlines too small to deflate, all N at once.

    Each is a zlib stream of one "stored" block (what ``zlib.compress(raw, 0)``
    writes), and they all have one length: written into one array, the
    Adler-32 checksums computed by numpy, only the CRC and the cut per image.
    The demo's switch has 3,000 such maps; assembled one by one in Python,
    they held the interpreter lock longer than deflating the large ones took.
    """
    count = rows.shape[0]
    raw = rows.reshape(count, -1)
    size = raw.shape[1]
    # length, "IDAT", zlib header (no compression), final stored block of ``size`` bytes
    before = head + struct.pack(">I", size + 11) + b"IDAT\x78\x01\x01" + struct.pack("<HH", size, size ^ 0xFFFF)
    start, checksum = len(before), len(before) + size
    length = checksum + 8 + len(_IEND)  # the data's Adler-32, the chunk's CRC, IEND
    out = np.empty((count, length), dtype=np.uint8)
    out[:, :start] = np.frombuffer(before, dtype=np.uint8)
    out[:, start:checksum] = raw
    out[:, checksum + 8:] = np.frombuffer(_IEND, dtype=np.uint8)
    # Adler-32: a = 1 + sum(d), b = size + sum((size - i) * d[i]) (exact in float64: below 2**53), mod 65521
    low = (1 + raw.sum(axis=1, dtype=np.int64)) % _ADLER_MOD
    high = (size + (raw @ np.arange(size, 0, -1, dtype=np.float64)).astype(np.int64)) % _ADLER_MOD
    out[:, checksum:checksum + 4] = ((high << 16) | low).astype(">u4").view(np.uint8).reshape(count, 4)
    flat = memoryview(out.reshape(-1))
    chunk = len(head) + 4  # the CRC covers "IDAT" and the data
    crcs = np.fromiter((zlib.crc32(flat[i:i + checksum + 4 - chunk])
                        for i in range(chunk, count * length, length)), dtype=np.uint32, count=count)
    out[:, checksum + 4:checksum + 8] = crcs.astype(">u4").view(np.uint8).reshape(count, 4)
    blob = out.tobytes()
    return [blob[i:i + length] for i in range(0, count * length, length)]


@functools.cache
def _one_pixel_pngs() -> tuple[bytes, ...]:
    return tuple(png_bytes(np.full((1, 1), value, dtype=np.uint8)) for value in range(256))


def gray_pngs(pixels: np.ndarray) -> list[bytes]:
    """Grayscale PNGs of uint8 images [N, H, W], sharing the per-layer work
    (scanline layout, header) so each image costs one zlib call."""
    count, height, width = pixels.shape
    if count == 0:
        return []
    if height == width == 1:  # 1D layers (class scores): 256 possible images, made once
        table = _one_pixel_pngs()
        return [table[value] for value in pixels.ravel().tolist()]
    rows = np.zeros((count, height, 1 + width), dtype=np.uint8)  # filter byte 0 per scanline
    rows[:, :, 1:] = pixels
    head = _PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if rows[0].nbytes < STORED_BELOW:
        return _stored_pngs(rows, head)
    pack, crc32 = struct.pack, zlib.crc32
    out = []
    for image in rows:
        data = _deflate(image.tobytes(), ZLIB_LEVEL)
        out.append(head + pack(">I", len(data)) + b"IDAT" + data + pack(">I", crc32(data, _IDAT_CRC) & 0xFFFFFFFF)
                   + _IEND)
    return out


def rgb_pngs(images: torch.Tensor | np.ndarray, then=None) -> list:
    """Colour PNGs of uint8 images [N, 3, H, W] (``then(png)`` of each, if given),
    spread over the cores: a layer's feature visualizations are hundreds of
    pictures, and deflate releases the GIL."""
    array = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)

    def one(image: np.ndarray):
        png = png_bytes(np.ascontiguousarray(image.transpose(1, 2, 0)))
        return png if then is None else then(png)

    return parallel_map(one, array)


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
PARALLEL_BELOW = 16  # fewer items are encoded in the calling thread


def _encoders() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:  # its own pool: callers run on the session's, which may all be waiting here
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="dvvr-png")
        return _pool


def parallel_map(fn, items) -> list:
    """``[fn(item) for item in items]``, in one chunk per core."""
    items = list(items)
    chunks = min(len(items) // PARALLEL_BELOW, os.cpu_count() or 1)
    if chunks <= 1:
        return [fn(item) for item in items]
    size = -(-len(items) // chunks)
    parts = _encoders().map(lambda first: [fn(item) for item in items[first:first + size]],
                            range(0, len(items), size))
    return [value for part in parts for value in part]
