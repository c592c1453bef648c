"""Redirected ReLU gradients (Lucid's trick) for the first steps of a feature
visualization.

A channel that is zero on the start picture everywhere (a dead ReLU or ReLU6)
has no gradient, so plain ascent never moves its picture.  While redirection
is on, an activation whose true gradient is zero for a whole image passes the
gradient through instead, except where that would push an input further
into the flat region.  Applied to the engine's own model copy only, by
wrapping ``nn.ReLU``/``nn.ReLU6`` forwards (hooks and module objects stay).
"""

from __future__ import annotations

import contextlib
import threading

import torch
from torch import nn

_active = threading.local()


class _Redirected(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, upper):
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(0, upper) if upper is not None else x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = x > 0 if ctx.upper is None else (x > 0) & (x < ctx.upper)
        true_grad = grad * inside
        # the optimiser minimises: a positive gradient pushes the input down
        blocked = (x <= 0) & (grad > 0)
        if ctx.upper is not None:
            blocked |= (x >= ctx.upper) & (grad < 0)
        redirected = grad.masked_fill(blocked, 0)
        alive = true_grad.flatten(1).abs().amax(1) > 0
        alive = alive.view(-1, *([1] * (x.dim() - 1)))
        return torch.where(alive, true_grad, redirected), None


def _forward(module, x):
    if getattr(_active, "on", False) and torch.is_grad_enabled():
        return _Redirected.apply(x, 6.0 if isinstance(module, nn.ReLU6) else None)
    return type(module).forward(module, x)


def install(model: nn.Module) -> nn.Module:
    """Make ``model``'s ReLU/ReLU6 modules redirect gradients inside ``redirecting()`` (a copy the caller owns)."""
    for module in model.modules():
        if isinstance(module, (nn.ReLU, nn.ReLU6)) and not getattr(module, "inplace", False):
            module.forward = _forward.__get__(module)
    return model


@contextlib.contextmanager
def redirecting(on: bool = True):
    """Redirected gradients in this thread while the block runs."""
    previous = getattr(_active, "on", False)
    _active.on = on
    try:
        yield
    finally:
        _active.on = previous
