"""The seed's way of marking layers: ``TrackerModule`` identity layers.

A model written the seed's way places ``TrackerModule(pos, name, ...)`` where
an activation should be shown; the tracker records its input.  Nothing else
in the model changes (no ``forward_features``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .capture import GATE
from .layers import RECORD_INPUT, LayerSpec, Pos


def _as_pos(value, what: str) -> Pos:
    try:
        depth, lane = value
        return (int(depth), int(lane))
    except (TypeError, ValueError):
        msg = f"{what} must be a (depth, lane) pair of ints, got {value!r}"
        raise TypeError(msg) from None


class TrackerModule(nn.Identity):
    """Identity layer that marks a tracked position in the VR view.

    ``tracked_module`` is the module whose weights the weight histogram shows
    (kept outside the module tree, so state dicts do not change);
    ``ignore_activation=True`` makes an info panel (``data_type "None"``).
    """

    def __init__(
        self,
        pos: Pos,
        layer_name: str,
        tracked_module: nn.Module | None = None,
        precursors: Iterable[Pos] = (),
        ignore_activation: bool = False,
    ):
        super().__init__()
        if not isinstance(layer_name, str):
            msg = f"layer_name must be a str, got {type(layer_name).__name__}"
            raise TypeError(msg)
        # A plain dict, not attributes: an nn.Module attribute would register
        # the tracked module a second time in the state dict.
        self.meta = {
            "pos": _as_pos(pos, "pos"),
            "layer_name": layer_name,
            "tracked_module": tracked_module,
            "precursors": tuple(_as_pos(p, "each precursor") for p in precursors),
            "ignore_activation": bool(ignore_activation),
        }

    def extra_repr(self) -> str:
        return f"pos={self.meta['pos']}, layer_name={self.meta['layer_name']!r}"


def has_trackers(model: nn.Module) -> bool:
    return any(isinstance(m, TrackerModule) for m in model.modules())


def tracker_layers(model: nn.Module, run_order: list[str]) -> list[LayerSpec]:
    """LayerSpecs for the model's TrackerModules, in the order they ran.

    ``run_order`` lists qualified tracker names in call order (from a probe
    forward pass); trackers that never ran are left out.
    """
    names_of = {id(module): name for name, module in model.named_modules()}
    modules = dict(model.named_modules())
    layers = []
    for name in run_order:
        meta = modules[name].meta
        tracked = meta["tracked_module"]
        weight_module = None
        if tracked is not None and isinstance(getattr(tracked, "weight", None), torch.Tensor):
            weight_module = names_of.get(id(tracked))
        layers.append(
            LayerSpec(
                pos=meta["pos"],
                name=meta["layer_name"],
                precursors=meta["precursors"],
                weight_module=weight_module,
                info_only=meta["ignore_activation"],
                source=name,
                record=RECORD_INPUT,
            )
        )
    return layers


def tracker_run_order(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Qualified names of TrackerModules in the order a forward pass calls them."""
    order: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, TrackerModule):

            def hook(mod, inputs, name=name):
                if name not in order:
                    order.append(name)

            handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad(), GATE.forward():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return order
