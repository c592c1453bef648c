"""How a recorded tensor becomes what the client shows: maps per channel.

A CNN's activations are already ``[B, C, H, W]``.  Transformers' are not: a
ViT block answers ``[B, T, D]`` tokens (extra tokens, then the patches row by
row), Swin and ConvNeXt internals answer ``[B, H, W, C]``, and attention is
``[B, heads, T, T]``.  Tracking (``autotrack/tokens.py``) decides once per
layer which view fits; the capture applies it to every recorded batch, so the
forward pass, feature visualization and every reader see the same
``[B, C, H, W]`` or ``[B, C]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Grid = tuple[int, int]


@dataclass(frozen=True)
class TokenGrid:
    """``[B, T, D]`` tokens -> ``[B, D, h, w]``: the ``h * w`` patch tokens
    after ``prefix`` extra tokens, in the order the patch embedding flattened
    them (row by row)."""

    prefix: int
    grid: Grid
    objective = "mean"

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        patches = value[:, self.prefix:self.prefix + h * w]
        return patches.transpose(1, 2).reshape(value.shape[0], value.shape[2], h, w)


@dataclass(frozen=True)
class ExtraTokens:
    """``[B, T, D]`` -> ``[B, E * D]``: the tokens that are not patches (the
    class token, distillation and register tokens), one after the other."""

    index: tuple[int, ...]
    objective = "mean"

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        return value[:, list(self.index)].flatten(1)


@dataclass(frozen=True)
class TokenMean:
    """``[B, T, D]`` without a patch grid -> ``[B, D]``: each channel's mean over the tokens."""

    objective = "mean"

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        return value.mean(1)


@dataclass(frozen=True)
class ChannelsLast:
    """``[B, H, W, C]`` -> ``[B, C, H, W]``."""

    objective = "mean"

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        return value.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class ClassAttention:
    """Attention weights ``[B, heads, T, T]`` -> ``[B, heads, h, w]``: per
    head, the class token's attention to each patch (``query`` is the class
    token's index); with ``query`` None (no class token), the mean attention
    each patch receives from all tokens.  Feature visualization of a head
    maximises its strongest attention to one patch: what draws that head."""

    query: int | None
    prefix: int
    grid: Grid
    objective = "max"

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        rows = value[:, :, self.query] if self.query is not None else value.mean(2)
        patches = rows[:, :, self.prefix:self.prefix + h * w]
        return patches.reshape(value.shape[0], value.shape[1], h, w)


def channel_objective(view, act: torch.Tensor) -> torch.Tensor:
    """[N, C, ...] -> [N, C]: what feature visualization maximises per channel
    (the mean over the map; for attention heads, their peak)."""
    if act.dim() < 2:
        msg = f"cannot visualize a layer whose activation has shape {tuple(act.shape)}"
        raise ValueError(msg)
    if act.dim() == 2:
        return act
    flat = act.flatten(2)
    return flat.amax(2) if getattr(view, "objective", "mean") == "max" else flat.mean(2)
