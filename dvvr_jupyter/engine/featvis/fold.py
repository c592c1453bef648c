"""Fold eval-mode BatchNorm into the convolution before it, in feature
visualization's model copy.

A BatchNorm in eval mode is a fixed per-channel scale and shift, so a
convolution followed by it is one convolution with scaled weights and a new
bias.  Folding removes the BatchNorm's forward and backward from every step
(about a quarter of a CPU step on the Caltech ResNet: benchmarks/README.md).
Module objects, names and hooks all stay: the BatchNorm's ``forward`` becomes
the identity, the convolution's weight and bias change, so the tracking hooks
still record the same values.

Pairs are found by running the current input once and matching tensors: a
BatchNorm whose input *is* a convolution's output, each called once.  Pairs
whose convolution output or BatchNorm input is itself recorded are left
alone.  The folded copy is checked against the unfolded one on that input
(every recorded layer and the output); on any difference the unfolded copy
is used.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..layers import RECORD_INPUT, RECORD_OUTPUT

log = logging.getLogger("dvvr.featvis")


def _identity(self, x):
    return x


def _pairs(model: nn.Module, capture, probe: torch.Tensor) -> tuple[list[tuple[str, str]], tuple]:
    """(convolution name, BatchNorm name) pairs where the BatchNorm reads only that
    convolution's output, and what the unfolded model computed on ``probe``
    (``capture.run``'s output and recorded layers)."""
    outputs: dict[int, tuple[str, torch.Tensor]] = {}  # tensors kept alive: their ids stay unique
    calls: dict[str, int] = {}
    fed_by: dict[str, str | None] = {}
    handles = []

    def conv_hook(name):
        def hook(module, inputs, output):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                outputs[id(output)] = (name, output)
        return hook

    def bn_hook(name):
        def hook(module, inputs):
            calls[name] = calls.get(name, 0) + 1
            source = outputs.get(id(inputs[0])) if inputs and isinstance(inputs[0], torch.Tensor) else None
            fed_by[name] = source[0] if source is not None else None
        return hook

    modules = dict(model.named_modules())
    for name, module in modules.items():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.BatchNorm2d) and not module.training and module.track_running_stats \
                and module.running_mean is not None:
            handles.append(module.register_forward_pre_hook(bn_hook(name)))
    try:
        with torch.no_grad():
            computed = capture.run(model, probe)
    finally:
        for handle in handles:
            handle.remove()
    recorded = {(layer.source, layer.record) for layer in capture.layers if layer.source is not None}
    pairs = []
    for bn, conv in fed_by.items():
        if conv is None or calls.get(bn) != 1 or calls.get(conv) != 1:
            continue
        if (conv, RECORD_OUTPUT) in recorded or (bn, RECORD_INPUT) in recorded:
            continue
        pairs.append((conv, bn))
    return pairs, computed


def _fold(model: nn.Module, pairs: list[tuple[str, str]]) -> None:
    modules = dict(model.named_modules())
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        weight, bias = fuse_conv_bn_weights(conv.weight, bias, bn.running_mean, bn.running_var, bn.eps,
                                            bn.weight, bn.bias)
        conv.weight, conv.bias = weight, nn.Parameter(bias.detach(), requires_grad=conv.weight.requires_grad)
        bn.forward = _identity.__get__(bn)


def _same(a, b) -> bool:
    """Equal up to rounding.  Loose on purpose: CUDA convolutions round through
    TF32 (differences of ~1e-3 of the largest value), while a wrongly folded
    pair changes values by their own size."""
    if a is None or b is None:
        return a is None and b is None
    a, b = a.float(), b.float()
    return a.shape == b.shape and bool((a - b).abs().max() <= 1e-2 * max(1.0, float(a.abs().max())))


def fold_batchnorm(model: nn.Module, capture, probe: torch.Tensor) -> nn.Module:
    """``model`` (a copy the caller owns, on its device) with its convolution +
    BatchNorm pairs folded, or ``model`` itself where nothing can be folded or
    the folded copy does not compute the same values on ``probe`` ([1, C, H, W])."""
    try:
        pairs, (want_out, want) = _pairs(model, capture, probe)
        if not pairs:
            return model
        folded = copy.deepcopy(model)
        _fold(folded, pairs)
        with torch.no_grad():
            got_out, got = capture.run(folded, probe)
    except Exception as error:  # noqa: BLE001 - an optimisation: never a reason to fail
        log.debug("BatchNorm not folded: %s", error)
        return model
    if not (_same(want_out, got_out) and all(_same(a, b) for a, b in zip(want, got, strict=True))):
        log.debug("BatchNorm not folded: the folded copy computes other values")
        return model
    log.debug("folded %d BatchNorm layers into their convolutions", len(pairs))
    return folded
