"""The seed's feature visualization, reimplemented from the issue's description
(benchmarks only: the product never imports this).

Per layer, channels in batches of 32; the input starts from the current
input image (network-input space, i.e. normalised); 200 steps of gradient
ascent on the mean activation of each image's target channel; each step the
gradient is divided by its L2 norm per image and the image moves by 20 times
that.  For all but the last 10 steps a no-grad robustness transform is
applied to the image first: edge-pad 10 px, random rotation up to 10 degrees
(p=0.3), random affine scale 1-1.05 (p=0.05), 5x5 Gaussian blur sigma 0.5,
centre crop back to the input size, random roll up to +-5 px (p=0.3), and a
5 % blend towards the per-image standardised image.  The whole network runs
forward each step (the seed did not stop at the target layer).  Random
choices are made once per batch, as torchvision's transforms do on a batch.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

STEPS, BATCH, STEP_SIZE, PLAIN_LAST = 200, 32, 20.0, 10


def _robustness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    x = F.pad(x, (10, 10, 10, 10), mode="replicate")
    if torch.rand((), generator=gen) < 0.3:
        x = TF.rotate(x, float(torch.empty(()).uniform_(-10, 10, generator=gen)))
    if torch.rand((), generator=gen) < 0.05:
        x = TF.affine(x, angle=0.0, translate=[0, 0], shear=[0.0, 0.0],
                      scale=float(torch.empty(()).uniform_(1.0, 1.05, generator=gen)))
    x = TF.gaussian_blur(x, [5, 5], [0.5, 0.5])
    x = TF.center_crop(x, [h, w])
    if torch.rand((), generator=gen) < 0.3:
        dy, dx = torch.randint(-5, 6, (2,), generator=gen).tolist()
        x = torch.roll(x, (dy, dx), (2, 3))
    standard = (x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return 0.95 * x + 0.05 * standard


def _channel_means(act: torch.Tensor) -> torch.Tensor:
    return act.flatten(2).mean(2) if act.dim() > 2 else act


def reference_visualize(model, capture, layer_index: int, start_input: torch.Tensor, channels, *,
                        steps: int = STEPS, batch: int = BATCH, seed: int = 0) -> torch.Tensor:
    """Network inputs [len(channels), C, H, W] (normalised, like ``start_input``)."""
    channels = list(channels)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for first in range(0, len(channels), batch):
        targets = torch.tensor(channels[first:first + batch], device=start_input.device)
        n = len(targets)
        x = start_input.unsqueeze(0).repeat(n, 1, 1, 1).detach()
        rows = torch.arange(n, device=x.device)
        for step in range(steps):
            if step < steps - PLAIN_LAST:
                with torch.no_grad():
                    x = _robustness(x, gen)
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                _, acts = capture.run(model, x, keep_graph=True)  # the whole network, as the seed did
                objective = _channel_means(acts[layer_index])[rows, targets].sum()
                (grad,) = torch.autograd.grad(objective, [x])
            norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            x = (x + STEP_SIZE * grad / norm).detach()
        out.append(x)
    return torch.cat(out)


def timed(fn, *args, **kwargs):
    began = time.perf_counter()
    value = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - began

