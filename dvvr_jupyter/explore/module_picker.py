"""The tracked-modules panel (the module picker): the model's module tree,
which modules are tracked now, the presets, and checking a choice before a
re-track.  The presets and their labels are defined here only: the widget
draws the buttons from the ``modules`` answer."""

from __future__ import annotations

from torch import nn

from ..engine.autotrack.units import auto_units, explicit_units
from ..engine.markers import has_trackers
from ..errors import BadRequest

#: The presets the widget offers, in its order: name -> the button's label.
PRESETS = {"auto": "automatic", "blocks": "blocks", "conv": "every conv", "all": "all"}


def presets(model: nn.Module) -> dict[str, list[str]]:
    """Module names each preset ticks: ``auto`` what automatic tracking
    picks, ``blocks`` its blocks only, ``conv`` every convolution, ``all``
    every parametric or pooling leaf.  ``blocks`` keeps what follows the
    last block (the head and the classifier, whose probabilities follow)."""
    auto = auto_units(model)
    blocks = [name for name in auto if list(model.get_submodule(name).children())]
    if blocks:  # and what follows the last block (the head, the classifier): the map still ends in the classes
        blocks += [name for name in auto[auto.index(blocks[-1]) + 1:] if not name.startswith(blocks[-1] + ".")]
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.modules.conv._ConvNd)]
    ticked = {"auto": auto, "blocks": blocks or auto, "conv": convs or auto, "all": explicit_units(model, "all")}
    return {name: ticked[name] for name in PRESETS}


def tracking_name(track) -> str:
    """How a network is tracked, in the widget's words: ``"auto"``, ``"all"``,
    ``"list"`` (module names) or ``"custom"`` (a predicate)."""
    if track is None:
        return "auto"
    if isinstance(track, str):
        return track
    return "list" if isinstance(track, (list, tuple)) else "custom"


def tracked_units(model: nn.Module, track) -> list[str]:
    """The module names that ``track`` tracks (ticked in the tree)."""
    if track is None:
        return [] if has_trackers(model) else auto_units(model)
    try:
        return explicit_units(model, track)
    except (ValueError, TypeError):
        return []


def module_tree(network) -> dict:
    """``modules``: every submodule in ``named_modules()`` order (the tree
    follows from the dotted names); ``tracked``: the ticked ones;
    ``presets``: what each preset ticks; ``preset_labels``: their buttons."""
    model = network.shadow.model
    track = network.options.track
    modules = [
        {"name": name, "type": type(module).__name__, "children": len(module._modules),
         "params": sum(p.numel() for p in module.parameters(recurse=False))}
        for name, module in model.named_modules() if name
    ]
    return {
        "network": network.id,
        "modules": modules,
        "tracked": tracked_units(model, track),
        "tracking": tracking_name(track),
        "trackers": has_trackers(model),
        "presets": presets(model),
        "preset_labels": PRESETS,
    }


def check_track(network, track):
    """``track`` from the widget as ``Network.retrack`` takes it: ``"auto"``
    becomes ``None``; a list must name modules of the model, none inside
    another (``BadRequest`` naming the problem otherwise)."""
    if track == "auto":
        return None
    if track == "all":
        return "all"
    if not isinstance(track, list):
        raise BadRequest(f"track must be \"auto\", \"all\" or a list of module names, got {track!r}", field="track")
    try:
        explicit_units(network.shadow.model, track)
    except (ValueError, TypeError) as exc:
        raise BadRequest(str(exc), field="track") from None
    return list(track)
