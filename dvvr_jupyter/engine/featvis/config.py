"""Settings of feature visualization (``network.featvis.config``) and the
defaults they fall back on."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: ``FeatVisConfig.param``: what the optimiser moves (``parameterisations``).
PIXEL, FOURIER = "pixel", "fourier"

#: channels per batch on a CPU when ``batch_size`` is None.  Measured (2 cores,
#: benchmarks/README.md): 64 is 25 % faster per channel than 32 on an early layer,
#: no faster on a late one, and holds twice the working memory.
CPU_BATCH = 32
#: the first batch tried on a GPU when ``batch_size`` is None; halved on out-of-memory.
#: Measured (benchmarks/README.md): 512 is faster per channel-step than 256 on the Caltech
#: ResNet's late layer, but 1.6x slower on EfficientNet-Lite0's last one
GPU_BATCH = 256
#: the first step's length per parameterisation (measured: benchmarks/README.md): for
#: "pixel", the root-mean-square change of each input value, in network-input units (the
#: seed's 200 steps of L2 length 20 on a 224x224 picture are 0.05 each); for "fourier",
#: Adam's step size
DEFAULT_LR = {PIXEL: 0.45, FOURIER: 0.5}


@dataclass(frozen=True)
class FeatVisConfig:
    """Settings of feature visualization (``network.featvis.config =
    dvvr.FeatVisConfig(steps=32)``).  README.md ("Feature visualization")
    says what each one does to speed and to the pictures."""

    steps: int = 24  # optimisation steps per batch: time grows linearly with it
    param: str = PIXEL  # "pixel" (the seed's way: smoothed pictures, normalised steps) or "fourier" (Lucid's)
    lr: float | None = None  # first step's length; None: 0.45 (RMS per input value) for "pixel", 0.5 (Adam) for "fourier"
    lr_end: float = 0.4  # the step length falls linearly to this share of ``lr`` by the last step
    blur: float = 0.7  # "pixel": Gaussian blur (sigma, px) of the picture before each smoothed step (0: none)
    blend: float = 0.05  # "pixel": pull towards the per-picture standardised image before each smoothed step
    jitter: int = 3  # "pixel": max random whole-pixel roll of the picture before each smoothed step (0: none)
    rotate: float = 5.0  # max random rotation, in degrees, on the steps that warp
    scale: tuple[float, float] = (0.95, 1.05)  # random zoom range, on the steps that warp
    p_warp: float = 0.0  # chance that a step sees its pictures rotated and zoomed (0: never)
    plain_last: int = 6  # the last steps are neither smoothed nor shifted: the picture ends on the objective
    redirect_steps: int = 8  # first steps with redirected ReLU gradients (moves channels dead on the start picture)
    batch_size: int | None = None  # channels per forward/backward; None: 32 on a CPU, as many as fit on a GPU
    devices: tuple[str, ...] | None = None  # spread batches over these (e.g. ("cuda:0", "cuda:1")); None: the network's
    autocast: bool = True  # bf16 autocast on CUDA (never on a CPU)
    channels_last: bool = True  # channels-last memory format for the model copy and the images
    seed: int = 0  # seed of every random choice: reproducible results
    cache_mb: int | None = 2048  # stored pictures per network beyond which the least recently used go

    def __post_init__(self):
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                msg = f"FeatVisConfig.{name} must be {what}, got {getattr(self, name)!r}"
                raise ValueError(msg)

        def is_int(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        need(is_int(self.steps) and self.steps >= 1, "steps", "an int >= 1")
        need(self.param in (PIXEL, FOURIER), "param", f'"{PIXEL}" or "{FOURIER}"')
        need(self.lr is None or (is_number(self.lr) and self.lr > 0), "lr", "None or a number > 0")
        need(is_number(self.lr_end) and 0 <= self.lr_end <= 1, "lr_end", "a number in [0, 1]")
        need(is_number(self.blur) and self.blur >= 0, "blur", "a number >= 0")
        need(is_number(self.blend) and 0 <= self.blend <= 1, "blend", "a number in [0, 1]")
        need(is_int(self.jitter) and self.jitter >= 0, "jitter", "an int >= 0")
        need(is_number(self.rotate) and self.rotate >= 0, "rotate", "a number >= 0")
        need(isinstance(self.scale, (tuple, list)) and len(self.scale) == 2 and all(map(is_number, self.scale))
             and 0 < self.scale[0] <= self.scale[1], "scale", "a pair (low, high) with 0 < low <= high")
        need(is_number(self.p_warp) and 0 <= self.p_warp <= 1, "p_warp", "a number in [0, 1]")
        need(is_int(self.plain_last) and self.plain_last >= 0, "plain_last", "an int >= 0")
        need(is_int(self.redirect_steps) and self.redirect_steps >= 0, "redirect_steps", "an int >= 0")
        need(self.batch_size is None or (is_int(self.batch_size) and self.batch_size >= 1), "batch_size",
             "None or an int >= 1")
        need(self.devices is None or (isinstance(self.devices, (tuple, list)) and len(self.devices) > 0
                                      and all(isinstance(d, (str, torch.device)) for d in self.devices)),
             "devices", "None or a non-empty tuple of device names")
        need(isinstance(self.autocast, bool), "autocast", "True or False")
        need(isinstance(self.channels_last, bool), "channels_last", "True or False")
        need(is_int(self.seed), "seed", "an int")
        need(self.cache_mb is None or (is_int(self.cache_mb) and self.cache_mb >= 0), "cache_mb",
             "None or an int >= 0")
