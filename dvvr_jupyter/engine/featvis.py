"""Feature visualization: for each channel of a layer, an input maximising it.

Gradient ascent in pixel space from the current input, with robustness
transforms (jitter, rotation, scale, blur) and a regulariser pulling the
image towards natural-image statistics, so the result shows structure rather
than adversarial high-frequency noise.  The model is the engine's shadow copy:
it is only read, never modified, and no gradient is ever written to it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

log = logging.getLogger("dvvr.featvis")

# ImageNet statistics: the regulariser's target when the network has no Normalize.
_NATURAL_MEAN = (0.485, 0.456, 0.406)
_NATURAL_STD = (0.229, 0.224, 0.225)


class FeatVisCancelled(Exception):
    """``should_stop()`` answered True: the visualization was abandoned."""


@dataclass(frozen=True)
class FeatVisConfig:
    """Settings of feature visualization (``network.featvis.config =
    dvvr.FeatVisConfig(steps=48)``): fewer steps are faster and give weaker
    pictures; the regularisers trade the objective for natural-looking images."""

    steps: int = 96  # optimisation steps per batch of channels
    lr: float = 0.03  # Adam learning rate, in pixel units ([0, 1] range) per step
    noise: float = 0.03  # std of the gaussian noise added to ``start`` (breaks symmetry)
    jitter: int = 8  # max random roll, in pixels, each step
    rotate: float = 5.0  # max random rotation, in degrees, each step
    scale: tuple[float, float] = (0.95, 1.05)  # random zoom range, each step
    blur_sigma: float = 0.5  # gaussian blur of the image itself (0: never) ...
    blur_every: int = 4  # ... every this many steps: damps high frequencies
    stats_weight: float = 1.0  # penalty on per-channel mean/std leaving natural-image statistics
    tv_weight: float = 0.5  # total-variation penalty: prefers smooth images
    batch_size: int = 16  # channels optimised together in one forward/backward
    seed: int = 0  # seed of all randomness (noise and transforms): reproducible results


def _pixel_stats(value, default, n: int, device) -> torch.Tensor:
    value = default if value is None else value
    tensor = torch.as_tensor(value, dtype=torch.float32, device=device).flatten()
    if tensor.numel() == 1:
        tensor = tensor.expand(n)
    if tensor.numel() != n:
        msg = f"expected {n} per-channel values, got {tensor.numel()}"
        raise ValueError(msg)
    return tensor.view(1, n, 1, 1)


def _model_dtype(model: nn.Module) -> torch.dtype:
    param = next(model.parameters(), None)
    return param.dtype if param is not None and param.is_floating_point() else torch.float32


def _channel_means(act: torch.Tensor) -> torch.Tensor:
    """[N, C, ...] -> [N, C]: the mean over everything after the channel axis."""
    if act.dim() < 2:
        msg = f"cannot visualize a layer whose activation has shape {tuple(act.shape)}"
        raise ValueError(msg)
    return act.flatten(2).mean(2) if act.dim() > 2 else act


def _transform(p: torch.Tensor, cfg: FeatVisConfig, gen: torch.Generator) -> torch.Tensor:
    """Random roll (one for the batch) then per-image rotation and zoom."""
    n = p.shape[0]
    if cfg.jitter > 0:
        dy, dx = torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=gen).tolist()
        p = torch.roll(p, shifts=(dy, dx), dims=(2, 3))
    if cfg.rotate <= 0 and cfg.scale[0] == cfg.scale[1] == 1:
        return p
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.rotate)
    zoom = cfg.scale[0] + torch.rand(n, generator=gen) * (cfg.scale[1] - cfg.scale[0])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(p), list(p.shape), align_corners=False)
    return F.grid_sample(p, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _regulariser(p: torch.Tensor, target_mean, target_std, cfg: FeatVisConfig) -> torch.Tensor:
    """Per-image penalty [N]: natural colour statistics and smoothness."""
    mean = p.mean((2, 3), keepdim=True)
    std = p.std((2, 3), keepdim=True)
    stats = ((mean - target_mean) ** 2 + (std - target_std) ** 2).sum((1, 2, 3))
    tv = (p[:, :, 1:] - p[:, :, :-1]).abs().mean((1, 2, 3)) + (p[..., 1:] - p[..., :-1]).abs().mean((1, 2, 3))
    return cfg.stats_weight * stats + cfg.tv_weight * tv


def _target_values(capture, model, x, layer_index: int) -> torch.Tensor:
    _, activations = capture.run(model, x, stop_at=layer_index, keep_graph=True)
    act = activations[layer_index]
    if act is None:
        msg = f"layer {layer_index} recorded no activation; it cannot be visualized"
        raise ValueError(msg)
    return _channel_means(act)


def _optimise_batch(model, capture, layer_index, start, targets, norm, cfg, gen, should_stop):
    """Gradient ascent for one batch: image b maximises channel ``targets[b]``."""
    n = len(targets)
    noise = torch.randn((n, *start.shape), generator=gen).to(start.device)
    p = (start.unsqueeze(0) + cfg.noise * noise).clamp(0, 1).requires_grad_(True)
    optimiser = torch.optim.Adam([p], lr=cfg.lr)
    rows = torch.arange(n, device=start.device)
    index = torch.as_tensor(targets, device=start.device)
    dtype = _model_dtype(model)
    for step in range(cfg.steps):
        if should_stop is not None and should_stop():
            msg = f"feature visualization of layer {layer_index} was cancelled"
            raise FeatVisCancelled(msg)
        x = ((_transform(p, cfg, gen) - norm["mean"]) / norm["std"]).to(dtype)
        values = _target_values(capture, model, x, layer_index)[rows, index].float()
        reg = _regulariser(p, norm["target_mean"], norm["target_std"], cfg)
        loss = (reg - values / norm["scale"]).sum()  # sum: each image's gradient is its own
        # autograd.grad, not backward(): nothing but p may ever receive a .grad
        (p.grad,) = torch.autograd.grad(loss, [p])
        optimiser.step()
        with torch.no_grad():
            if cfg.blur_sigma > 0 and cfg.blur_every > 0 and (step + 1) % cfg.blur_every == 0:
                radius = max(1, math.ceil(2 * cfg.blur_sigma))
                p.copy_(TF.gaussian_blur(p, [2 * radius + 1] * 2, [cfg.blur_sigma] * 2))
            p.clamp_(0, 1)
    return p.detach()


def _check_channels(model, capture, layer_index, start, channels, norm) -> torch.Tensor:
    """Validate ``channels`` and measure the layer's activation scale on ``start``."""
    x = ((start.unsqueeze(0) - norm["mean"]) / norm["std"]).to(_model_dtype(model))
    with torch.no_grad():
        values = _target_values(capture, model, x, layer_index)
    bad = [c for c in channels if not 0 <= c < values.shape[1]]
    if bad:
        msg = f"layer {layer_index} has {values.shape[1]} channels; cannot visualize channel(s) {bad[:5]}"
        raise IndexError(msg)
    # Dividing the objective by this makes the regulariser weights layer-independent.
    return values.float().abs().mean().clamp_min(1e-3)


def visualize(model: nn.Module, capture, layer_index: int, start: torch.Tensor, channels: Sequence[int], *,
              mean, std, config: FeatVisConfig = FeatVisConfig(),
              progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
    """One image per channel of layer ``layer_index``: uint8 [len(channels), 3, H, W] on the CPU.

    ``start`` is the current input in pixel space ([3, H, W] in [0, 1]);
    ``mean``/``std`` map pixels to network inputs (``None``: identity).
    Runs on ``start.device``.  Raises ``FeatVisCancelled`` once ``should_stop()``
    is true, ``IndexError`` for a channel the layer does not have.
    """
    channels = [int(c) for c in channels]
    device, c_in = start.device, start.shape[0]
    start = start.detach().float()
    norm = {
        "mean": _pixel_stats(mean, 0.0, c_in, device),
        "std": _pixel_stats(std, 1.0, c_in, device),
        # the network's own normalisation is the best guess at its data's statistics
        "target_mean": _pixel_stats(mean, _NATURAL_MEAN if c_in == 3 else 0.45, c_in, device),
        "target_std": _pixel_stats(std, _NATURAL_STD if c_in == 3 else 0.225, c_in, device),
    }
    out = torch.empty((len(channels), *start.shape), dtype=torch.uint8)
    if not channels:
        return out
    gen = torch.Generator().manual_seed(config.seed)
    began = time.monotonic()
    with torch.enable_grad():
        norm["scale"] = _check_channels(model, capture, layer_index, start, channels, norm)
        for first in range(0, len(channels), max(1, config.batch_size)):
            targets = channels[first:first + max(1, config.batch_size)]
            images = _optimise_batch(model, capture, layer_index, start, targets, norm, config, gen, should_stop)
            out[first:first + len(targets)] = (images * 255).round().to(torch.uint8).cpu()
            done = first + len(targets)
            log.info("layer %d: %d/%d channels, %.1f s", layer_index, done, len(channels), time.monotonic() - began)
            if progress is not None:
                progress(done, len(channels))
    return out
