"""Placing entries on the VR client's grid: depth x lane positions."""

from __future__ import annotations

import torch

from ..layers import SOFTMAX, LayerSpec, Pos
from .graph import Entry


def add_output_layers(entries: list[Entry], *, output_entry: Entry | None, output_inputs: list[Entry],
                      output: torch.Tensor | None, whole_model: bool) -> None:
    """Mark the class scores; showing the whole model, add Output and probabilities.

    ``output_entry`` is the entry whose value is the model's output (None when
    no tracked unit produces it), ``output_inputs`` the entries it is computed
    from, ``output`` the model's output on the probe, and ``whole_model`` says
    the whole model is shown (the default choice or ``track="all"``), not a
    list of modules."""
    dims = output.dim() if output is not None else 0
    if output_entry is None and output is not None and whole_model:
        label = {2: "Output (display_classnames)", 4: "Output (class maps)"}.get(dims, "Output")
        output_entry = Entry(label, "", output_inputs or [entries[-1]])
        entries.append(output_entry)
    elif output_entry is not None and dims == 2:
        output_entry.name += " (display_classnames)"
    if whole_model and output_entry is not None and dims == 2:
        entries.append(Entry("Probabilities (display_classnames)", "", [output_entry], post=SOFTMAX))


def layout(entries: list[Entry]) -> list[LayerSpec]:
    # Depth = longest path from the input; layers at one depth take lanes 0, 1, ...
    pos: dict[Entry, Pos] = {}
    lanes: dict[int, int] = {}
    layers = []
    for entry in entries:
        depth = 1 + max((pos[p][0] for p in entry.prec), default=-1)
        pos[entry] = (depth, lanes.get(depth, 0))
        lanes[depth] = pos[entry][1] + 1
        precursors = tuple(pos[p] for p in entry.prec)
        e = entry
        layers.append(LayerSpec(pos[e], e.name, precursors, e.weight_module, False, e.source, e.record, e.post,
                                  e.view, e.unit or e.source or None))  # "": the whole model, ticked nowhere
    return layers

