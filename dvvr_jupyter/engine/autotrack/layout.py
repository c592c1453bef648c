"""Placing entries on the VR client's grid: depth x lane positions."""

from __future__ import annotations

import torch

from ..layers import LayerSpec, Pos
from .graph import Entry


def finish(entries, final, out_prec, output: torch.Tensor | None, whole: bool) -> None:
    """Mark the class scores; showing the whole model, add Output and probabilities."""
    dims = output.dim() if output is not None else 0
    if final is None and output is not None and whole:
        label = {2: "Output (display_classnames)", 4: "Output (class maps)"}.get(dims, "Output")
        final = Entry(label, "", out_prec or [entries[-1]])
        entries.append(final)
    elif final is not None and dims == 2:
        final.name += " (display_classnames)"
    if whole and final is not None and dims == 2:
        entries.append(Entry("Probabilities (display_classnames)", "", [final], post="softmax"))


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
                                  e.view))
    return layers

