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

from collections.abc import Iterable
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
    return list(layers_to_host(None, dict(enumerate(tensors)), range(len(tensors)), bins)[2].values())


def layers_to_host(output: torch.Tensor | None, tensors: dict[int, torch.Tensor], scaled: Iterable[int],
                   bins: int = HISTOGRAM_BINS) -> tuple[torch.Tensor | None, dict[int, torch.Tensor], dict[int, Scaled]]:
    """``network.to_host``'s ``(output, {index: float tensor})`` and, for the
    layers ``scaled`` names, their ``Scaled`` fields, in one copy off the
    device: the floats, uint8 pixels and per-layer figures travel together
    (each copy of its own waits for the device again)."""
    chosen = list(scaled)
    picked = set(chosen)
    rest = [index for index in tensors if index not in picked]
    order = chosen + rest
    floats = [tensors[index].detach().reshape(-1).float() for index in order]
    if output is not None:
        floats.append(output.detach().reshape(-1).float())
    if not floats:
        return None, {}, {}
    device = floats[0].device
    raw = torch.cat(floats)  # every layer's values as recorded (the activations keep their NaN)
    sizes = [tensors[index].numel() for index in chosen]
    count, values = len(chosen), sum(sizes)
    parts = [raw]
    if count:
        flat = torch.nan_to_num(raw[:values], nan=0.0, posinf=0.0, neginf=0.0)  # as layer_array has it
        ranges = [torch.aminmax(part) for part in flat.split(sizes)]
        lows = torch.stack([low for low, _ in ranges])
        highs = torch.stack([high for _, high in ranges])
        # The scale factors as the CPU computes them: float64 from the float32 extremes, rounded to float32.
        low64, high64 = lows.double(), highs.double()
        varied = high64 > low64
        span = torch.where(varied, high64 - low64, 1.0)
        to_pixels = (255.0 / span).float()
        to_bins = torch.where(varied, bins / span, 0.0).float()
        # Which layer each value belongs to (the sizes travel pinned and asynchronously: no wait here).
        repeats = torch.tensor(sizes, dtype=torch.int64)
        if device.type == "cuda":
            repeats = repeats.pin_memory().to(device, non_blocking=True)
        layer_of = torch.repeat_interleave(torch.arange(count, device=device), repeats, output_size=values)
        shifted = flat.sub_(lows.index_select(0, layer_of))
        pixels = (shifted * to_pixels.index_select(0, layer_of)).round_().clamp_(0, 255).to(torch.uint8)
        index = shifted.mul_(to_bins.index_select(0, layer_of)).to(torch.int64).clamp_(max=bins - 1)
        index.add_(layer_of, alpha=bins)
        counts = torch.bincount(index, minlength=count * bins)
        # aligned: int64 counts, float32 extremes and values, then the bytes
        parts = [counts.view(torch.uint8), lows.view(torch.uint8), highs.view(torch.uint8), raw.view(torch.uint8),
                 pixels]
    else:
        parts = [raw.view(torch.uint8)]
    host = torch.cat(parts).cpu().numpy()
    at = 0

    def take(dtype, n: int) -> np.ndarray:
        nonlocal at
        array = host[at:at + n * np.dtype(dtype).itemsize].view(dtype)
        at += array.nbytes
        return array

    if count:
        host_counts = take(np.int64, count * bins).reshape(count, bins)
        host_lows, host_highs = take(np.float32, count), take(np.float32, count)
    host_raw = torch.from_numpy(take(np.float32, raw.numel()))
    shown, first = {}, 0
    for index in order:
        size = tensors[index].numel()
        shown[index] = host_raw[first:first + size].view(tensors[index].shape)
        first += size
    host_output = host_raw[first:].view(output.shape) if output is not None else None
    if not count:
        return host_output, shown, {}
    host_pixels = take(np.uint8, values)
    out, first = {}, 0
    for layer, (index, size) in enumerate(zip(chosen, sizes, strict=True)):
        tensor = tensors[index]
        shape = tuple(tensor.shape) if tensor.dim() == 3 else (size, 1, 1)
        low, high = float(host_lows[layer]), float(host_highs[layer])
        span = high - low if high > low else 1.0
        zero_value = int(round(min(max(-low * 255.0 / span, 0.0), 255.0)))
        if high > low:
            histogram = Histogram(tuple(int(c) for c in host_counts[layer]), encode._bins(low, high, bins))
        else:
            histogram = constant_histogram(low, size, bins)
        out[index] = Scaled(host_pixels[first:first + size].reshape(shape), zero_value, low, high, histogram)
        first += size
    return host_output, shown, out


def constant_histogram(value: float, size: int, bins: int = HISTOGRAM_BINS) -> Histogram:
    """``encode.histogram`` of ``size`` copies of one float32 ``value`` (a
    layer with one value throughout), from one copy of it."""
    one = encode.histogram(np.full(1, value, dtype=np.float32), bins)
    return Histogram(tuple(c * size for c in one.counts), one.centres)


def channel_images(scaled: Scaled) -> ChannelImages:
    """The layer's ``ChannelImages``: its device-scaled fields and their PNGs (CPU: deflate)."""
    return ChannelImages(scaled.pixels, scaled.zero_value, scaled.low, scaled.high, scaled.histogram,
                         tuple(encode.gray_pngs(scaled.pixels)))
