"""Automatic tracking: derive readable tracked layers for an unmodified model.

``derive_layers`` picks *units* from the module tree (``units.py``), reads
their edges from a ``torch.fx`` graph in which the units are leaves
(``graph.py``) and places them on the client's grid (``layout.py``).  A block
with a module on its skip path (ResNet's ``downsample``) gets two extra
layers, its main path at lane 0 and its skip at lane 1, both feeding the
block output.  Models fx cannot trace fall back to a hook pass: units in call
order, one lane.  Transformer outputs (tokens, channels-last maps) are shown
as maps, and each token block gets its extra tokens and its attention beside
it (``tokens.py``).

Every source is something ``HookCapture`` can record: a module's input or
output, or the whole model's.  The model is left exactly as found.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..layers import LayerSpec
from .graph import GraphBuilder, Probe, entries_from_calls, trace, unit_name
from .layout import add_output_layers, layout
from .tokens import shape_entries
from .units import TrackArg, auto_units, explicit_units, trackable_modules

__all__ = ["derive_layers", "trackable_modules"]


def derive_layers(model: nn.Module, example: torch.Tensor, track: TrackArg = None) -> list[LayerSpec]:
    """Tracked layers and their graph for a model without TrackerModules.

    ``track`` None picks a readable set (stem, blocks, pooling, classifier,
    probabilities); a list of qualified module names, a ``callable(name,
    module)`` or ``"all"`` (every parametric or pooling leaf) tracks exactly
    those plus the Input ("all" also adds probabilities).  ``example`` is a
    batch the model accepts; one no-grad, eval-mode pass reads shapes.
    """
    if not isinstance(model, nn.Module):
        msg = f"model must be a torch.nn.Module, got {type(model).__name__}"
        raise TypeError(msg)
    if not isinstance(example, torch.Tensor) or example.dim() == 0:
        msg = f"example must be a batched torch.Tensor, got {type(example).__name__}"
        raise TypeError(msg)
    default = track is None
    units = auto_units(model) if default else explicit_units(model, track)
    probe = Probe(model, example, keep=set(units))
    batch = example.shape[0]
    try:
        graph = trace(model, set(units))
    except Exception as exc:  # noqa: BLE001 - any trace failure means: use call order
        warnings.warn(
            f"torch.fx cannot trace {type(model).__name__} ({type(exc).__name__}: {exc}); "
            "tracked layers follow call order on one lane",
            stacklevel=2,
        )
        entries, final, out_prec = entries_from_calls(model, units, probe, batch, default)
    else:
        entries, final, out_prec = GraphBuilder(model, graph, units, probe, batch, default).build()
    if isinstance(track, (list, tuple)):
        placed = {e.source for e in entries}
        missing = [u for u in units if u not in placed]
        if missing:
            msg = f"tracked modules {missing} produce no batched tensor in a forward pass (or never run)"
            raise ValueError(msg)
    add_output_layers(entries, output_entry=final, output_inputs=out_prec, output=probe.output,
                      whole_model=default or track == "all")
    entries = shape_entries(model, probe, entries, tuple(example.shape[-2:]), extras=default, unit_name=unit_name)
    return layout(entries)
