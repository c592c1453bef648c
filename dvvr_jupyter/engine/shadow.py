"""The engine's private copy of the user's model.

The user may be training their model in the next cell (or in another
thread), so the engine never calls ``eval()``, toggles ``requires_grad``,
registers hooks or runs a forward pass on it.  It keeps a deep copy instead
(eval mode, no gradients) and, before each computation, copies the live
weights and buffers into it under the engine's lock, so every answer of one
input sees the same weights.  The trainer does not take that lock: a copy
made while ``optimizer.step()`` runs can mix two steps; ``dvvr.watch`` copies
between steps instead.  ``adopt=True`` (``dvvr serve`` only) uses the model
object itself: the project built it for the server and nobody trains it.
"""

from __future__ import annotations

import copy
import threading

import torch
from torch import nn
from torch.nn.utils import prune
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def input_spec(model: nn.Module) -> tuple[int, torch.dtype]:
    """(channels, dtype) the model's input most likely has: its first 2D
    convolution's input channels (3 without one) and its first floating
    parameter's dtype (float32 without one)."""
    channels = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return int(channels), dtype


def _signature(state: dict) -> list:
    # get_extra_state() entries may be anything: compared by type only
    return [(key, tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else (key, type(value))
            for key, value in state.items()]


#: Forward pre-hooks of torch's own reparametrisations (old-style weight_norm,
#: spectral_norm, pruning) recompute ``weight`` before each forward: the copy
#: keeps them, or it would show stale weights.
WEIGHT_HOOKS = (WeightNorm, SpectralNorm, prune.BasePruningMethod)


def _check_materialised(model: nn.Module) -> None:
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if isinstance(tensor, nn.parameter.UninitializedTensorMixin):
            msg = (f"{name} is not initialised yet (a lazy module): run one forward pass of the model before "
                   f"attaching it")
            raise ValueError(msg)
        if tensor.is_meta:
            msg = f"{name} is on the 'meta' device (no values): materialise the model (to_empty, load weights) first"
            raise ValueError(msg)


class ShadowModel:
    """A private eval-mode copy of ``live`` that follows its weights."""

    def __init__(self, live: nn.Module, device: torch.device, *, adopt: bool = False):
        # torch.compile's wrapper shares its weights with the module it wraps:
        # follow that one (eager: one input at a time needs no compiled graph)
        compiled = getattr(getattr(torch, "_dynamo", None), "eval_frame", None)
        if compiled is not None and isinstance(live, compiled.OptimizedModule):
            live = live._orig_mod
        self.live = live
        self.device = device
        self.adopt = adopt
        self.lock = threading.RLock()
        _check_materialised(live)
        self.model = self._copy()
        self._state_signature = _signature(self.model.state_dict())
        #: bumped whenever the shadow's weights change (caches key on it)
        self.generation = 0

    def _copy(self) -> nn.Module:
        if self.adopt:
            # The model belongs to the server (``dvvr serve`` built it from a
            # project and nobody else holds it): no second copy in memory.
            clone = self.live
        else:
            clone = self._deepcopy()
        return self._prepare(clone)

    def _deepcopy(self) -> nn.Module:
        # Tensors a model keeps from its last forward pass (``self.last = y``)
        # are part of an autograd graph, which deepcopy refuses: copy their values.
        # Also inside the dicts and lists a model keeps (``self.acts[name] = y``).
        memo = {}
        pending = [value for module in self.live.modules() for value in vars(module).values()]
        seen = set()
        while pending:
            value = pending.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, torch.Tensor):
                if value.grad_fn is not None:
                    memo[id(value)] = value.detach().clone()
            elif isinstance(value, dict):
                pending.extend(value.values())
            elif isinstance(value, (list, tuple)):
                pending.extend(value)
        try:
            return copy.deepcopy(self.live, memo)
        except Exception as exc:  # noqa: BLE001 - any failure means "cannot copy"
            msg = f"cannot copy the model to inspect it without touching it ({type(exc).__name__}: {exc})"
            raise TypeError(msg) from exc

    def _prepare(self, clone: nn.Module) -> nn.Module:
        clone = clone.to(self.device)
        clone.eval()
        for module in clone.modules():
            # The user's own hooks (say, ones filling a dict of theirs) must not
            # fire for the engine's forward passes.
            for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                          "_backward_pre_hooks", "_forward_hooks_with_kwargs",
                          "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called"):
                table = getattr(module, hooks, None)
                if not table:
                    continue
                for key in list(table):
                    if not (hooks == "_forward_pre_hooks" and isinstance(table[key], WEIGHT_HOOKS)):
                        del table[key]
        for parameter in clone.parameters():
            parameter.requires_grad_(False)
            parameter.grad = None
        return clone

    def sync(self) -> bool:
        """Copy the live weights and buffers in where they differ; ``False``
        (and nothing copied) if the model's structure changed since the copy
        was made: then it must be attached again, from the user's thread.

        Tensors are compared rather than trusting version counters: code that
        writes through ``param.data`` changes weights without bumping them.
        """
        if self.adopt:
            return True  # the shadow is the model itself
        with self.lock, torch.no_grad():
            live_state = self.live.state_dict()
            if _signature(live_state) != self._state_signature:
                return False
            own_state = self.model.state_dict()
            changed = False
            for key, value in live_state.items():
                own = own_state[key]
                if not isinstance(value, torch.Tensor):
                    continue  # extra state: the copy's own, from when it was made
                if not torch.equal(own, value.to(own.device)):
                    own.copy_(value)
                    changed = True
            if changed:
                self.generation += 1
            return True

    def snapshot(self) -> nn.Module:
        """An independent copy of the current shadow (for long jobs such as
        feature visualization, which must not see weights change mid-way)."""
        with self.lock:
            return copy.deepcopy(self.model)
