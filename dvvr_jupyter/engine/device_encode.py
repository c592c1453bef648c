"""A forward pass's layers scaled to pictures where they were computed (a GPU).

On the CPU a switch's layers are scaled and binned in numpy
(``encode.scale_layer``, ``encode.layer_histogram``), several passes over
every value, on the session's worker threads.  On a GPU the same arithmetic
runs for all layers at once in a few kernels: one min and max per layer, the
uint8 pixels, the 16-bin histograms.  What comes off the device is one copy
of uint8 pixels (a quarter of the float bytes) and the per-layer figures;
the CPU is left with the deflate of the PNGs (``encode.gray_pngs``, which
releases the interpreter lock) and the answers.

The arithmetic is the CPU's, operation for operation in float32 (the same
float64 scale factors rounded to float32, round-half-even, truncation into
bins), so the pixels and counts are the CPU's: tests/gpu holds them to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import encode
from .encode import HISTOGRAM_BINS, Histogram
from .result import ChannelImages


@dataclass(frozen=True)
class Scaled:
    """One layer scaled like ``encode.scale_layer`` and binned like
    ``encode.layer_histogram``: everything of its ``ChannelImages`` but the PNGs."""

    pixels: np.ndarray  # uint8 [C, H, W] ([C, 1, 1] for a vector)
    zero_value: int
    low: float
    high: float
    histogram: Histogram


def scale_layers(tensors: list[torch.Tensor], bins: int = HISTOGRAM_BINS) -> list[Scaled]:
    """Each layer ([C, H, W] or [C], any float dtype, all on one device) as
    ``encode.layer_array`` + ``scale_layer`` + ``layer_histogram`` make it,
    computed on its device with one wait for it and one copy off it."""
    if not tensors:
        return []
    device = tensors[0].device
    sizes = [t.numel() for t in tensors]
    count = len(tensors)
    # One buffer of every layer's values; non-finite ones count as 0, as layer_array has it.
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    torch.nan_to_num_(flat, nan=0.0, posinf=0.0, neginf=0.0)
    ranges = [torch.aminmax(part) for part in flat.split(sizes)]
    lows = torch.stack([low for low, _ in ranges])
    highs = torch.stack([high for _, high in ranges])
    # The scale factors as the CPU computes them: in float64 from the float32 extremes, then rounded to float32.
    low64, high64 = lows.double(), highs.double()
    varied = high64 > low64
    to_pixels = (255.0 / torch.where(varied, high64 - low64, 1.0)).float()
    to_bins = torch.where(varied, bins / torch.where(varied, high64 - low64, 1.0), 0.0).float()
    # Which layer each value belongs to (the sizes travel pinned and asynchronously: no wait here).
    repeats = torch.tensor(sizes, dtype=torch.int64).pin_memory().to(device, non_blocking=True) \
        if device.type == "cuda" else torch.tensor(sizes, dtype=torch.int64)
    layer_of = torch.repeat_interleave(torch.arange(count, device=device), repeats, output_size=flat.numel())
    shifted = flat.sub_(lows.index_select(0, layer_of))
    pixels = (shifted * to_pixels.index_select(0, layer_of)).round_().clamp_(0, 255).to(torch.uint8)
    index = shifted.mul_(to_bins.index_select(0, layer_of)).to(torch.int64).clamp_(max=bins - 1)
    index.add_(layer_of, alpha=bins)
    counts = torch.bincount(index, minlength=count * bins)
    # One copy off the device: the figures first (aligned), then the pixels.
    packed = torch.cat([lows.view(torch.uint8), highs.view(torch.uint8), counts.view(torch.uint8), pixels])
    host = packed.cpu().numpy()
    host_lows = host[:4 * count].view(np.float32)
    host_highs = host[4 * count:8 * count].view(np.float32)
    host_counts = host[8 * count:8 * count + 8 * count * bins].view(np.int64).reshape(count, bins)
    host_pixels = host[8 * count + 8 * count * bins:]
    out = []
    first = 0
    for layer, (tensor, size) in enumerate(zip(tensors, sizes, strict=True)):
        shape = tuple(tensor.shape) if tensor.dim() == 3 else (size, 1, 1)
        low, high = float(host_lows[layer]), float(host_highs[layer])
        span = high - low if high > low else 1.0
        zero_value = int(round(min(max(-low * 255.0 / span, 0.0), 255.0)))
        if high > low:
            histogram = Histogram(tuple(int(c) for c in host_counts[layer]), encode._bins(low, high, bins))
        else:
            histogram = constant_histogram(low, size, bins)
        out.append(Scaled(host_pixels[first:first + size].reshape(shape), zero_value, low, high, histogram))
        first += size
    return out


def constant_histogram(value: float, size: int, bins: int = HISTOGRAM_BINS) -> Histogram:
    """``encode.histogram`` of ``size`` copies of one float32 ``value`` (a
    layer with one value throughout), from one copy of it."""
    one = encode.histogram(np.full(1, value, dtype=np.float32), bins)
    return Histogram(tuple(c * size for c in one.counts), one.centres)


def channel_images(scaled: Scaled) -> ChannelImages:
    """The layer's ``ChannelImages``: its device-scaled fields and their PNGs (CPU: deflate)."""
    return ChannelImages(scaled.pixels, scaled.zero_value, scaled.low, scaled.high, scaled.histogram,
                         tuple(encode.gray_pngs(scaled.pixels)))
