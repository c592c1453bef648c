"""Robustness transforms for feature visualization, batched on the device.

Each step every image is seen through its own random translation, rotation
and zoom, so the picture must excite the channel wherever it lands rather
than through one fragile pixel pattern.  All three are folded into a single
affine ``grid_sample`` for the whole batch: one kernel, no per-image Python
loop, differentiable (the gradient flows back to the parameterisation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, *, jitter: int, rotate: float, scale: tuple[float, float], p_warp: float,
                  gen: torch.Generator) -> torch.Tensor:
    """``x`` [N, C, H, W] seen through a random affine map per image:
    a whole-pixel translation up to ``jitter`` px always, and with
    probability ``p_warp`` a rotation up to ``rotate`` degrees and a zoom in
    ``scale``; borders are reflected.  Whole-pixel shifts resample nothing, so
    the fine detail early layers respond to survives; rotations and zooms
    blur it, hence only some of the time.  Random numbers come from ``gen``
    on the CPU: results do not depend on the device."""
    n, _, h, w = x.shape
    warp = torch.rand(n, generator=gen) < p_warp
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate) * warp
    zoom = torch.where(warp, scale[0] + torch.rand(n, generator=gen) * (scale[1] - scale[0]), torch.ones(n))
    shift = torch.randint(-jitter, jitter + 1, (n, 2), generator=gen).float() if jitter > 0 else torch.zeros(n, 2)
    if not (angle.any() or (zoom != 1).any() or shift.any()):
        return x
    # the grid spans 2 over the width / height: a whole pixel is 2 / size
    shift = shift * torch.tensor([2.0 / w, 2.0 / h])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(device=x.device, dtype=x.dtype), [n, 1, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
