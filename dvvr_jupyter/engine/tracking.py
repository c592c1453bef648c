"""Tracking a model: which layers the client sees, their shapes, and the
hooks that record them.

The seed's ``TrackerModule`` markers when the model has them (and ``track``
is not given), else automatic tracking.  Both paths end in ``check_layers``:
a repeated position or a dangling precursor breaks the VR client, so it is
an error at ``attach`` time, whoever chose the layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .autotrack import derive_layers as auto_layers
from .capture import HookCapture, layer_tensor
from .layers import FEATURE_MAP, INFO, VECTOR, Layer, LayerSpec, check_layers
from .markers import has_trackers, tracker_layers, tracker_run_order


def derive_specs(model: nn.Module, example: torch.Tensor, track) -> list[LayerSpec]:
    """The seed's TrackerModules when the model has them, else automatic."""
    if track is None and has_trackers(model):
        specs = tracker_layers(model, tracker_run_order(model, example))
    else:
        specs = auto_layers(model, example, track=track)
    check_layers(specs)
    return specs


def _kind(tensor: torch.Tensor | None) -> str:
    if tensor is None:
        return INFO
    return FEATURE_MAP if tensor.dim() == 3 else VECTOR


class Tracking:
    """The tracked layers of one model (the engine's private copy) and the
    hooks recording them.  Built once per ``attach``; read-only afterwards."""

    def __init__(self, model: nn.Module, example: torch.Tensor, track=None):
        self.specs = derive_specs(model, example, track)
        self.capture = HookCapture(model, self.specs)
        try:
            with torch.no_grad():
                _, activations = self.capture.run(model, example)
        except BaseException:
            self.capture.close()  # no hooks left on the model by a tracking that failed
            raise
        layers = []
        for index, (spec, value) in enumerate(zip(self.specs, activations, strict=True)):
            tensor = None if value is None or spec.info_only else layer_tensor(value)
            layers.append(Layer(
                id=index, name=spec.name, kind=_kind(tensor), shape=() if tensor is None else tuple(tensor.shape),
                pos=spec.pos, precursors=spec.precursors, module=None if spec.info_only else spec.source,
                weight_module=spec.weight_module, unit=None if spec.info_only else spec.unit,
            ))
        self.layers: tuple[Layer, ...] = tuple(layers)

    def close(self) -> None:
        self.capture.close()
