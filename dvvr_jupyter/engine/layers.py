"""What the VR client sees of a network: its tracked layers.

``LayerSpec`` is how tracking describes a layer before a forward pass has
shown its size (the seed's ``TrackerModule`` markers in ``markers.py``, or
automatic tracking in ``autotrack/``); ``Layer`` is the finished public view
of one layer, with its shape, as ``Network.layers`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Pos = tuple[int, int]

#: What a layer holds: a map per channel, one value per channel, or nothing
#: (an info panel that only shows its name).
FEATURE_MAP, VECTOR, INFO = "feature_map", "vector", "info"

#: What a tracked module gives its layer (``LayerSpec.record``): its forward input or output, or
#: the attention weights of its call (an attention module: ``attention.py``).
RECORD_INPUT, RECORD_OUTPUT, RECORD_ATTENTION = "input", "output", "attention"
#: ``LayerSpec.post``: the recorded scores turned into probabilities.
SOFTMAX = "softmax"


@dataclass(frozen=True)
class LayerSpec:
    """One tracked layer as tracking derives it, before sizes are known.

    ``weight_module`` is the qualified name (in the model) of the module whose
    ``weight`` the weight histogram shows, or ``None``.  ``info_only`` layers
    are panels showing only the name.
    """

    pos: Pos
    name: str
    precursors: tuple[Pos, ...] = ()
    weight_module: str | None = None
    info_only: bool = False
    # Where the activation comes from: the qualified name of a module ("" is
    # the whole model) and whether its forward input or output is recorded.
    # ``post="softmax"`` turns the recorded scores into probabilities.
    # ``record="attention"`` records the attention weights of an attention
    # module's call (``attention.py``); ``view`` turns the recorded batch into
    # ``[B, C, H, W]`` or ``[B, C]`` (``maps.py``: tokens, channels-last).
    source: str | None = None
    record: str = RECORD_OUTPUT
    post: str | None = None
    view: Callable[[torch.Tensor], torch.Tensor] | None = None
    # The tracked unit (the module ticked in the explorer's module tree) when
    # it differs from ``source`` (a stem's conv whose value is read after its
    # activation); ``None``: ``source`` itself.
    unit: str | None = None


@dataclass(frozen=True)
class Layer:
    """One layer of a network as the VR client and the notebook show it.

    ``id`` is its index in ``Network.layers`` (the client addresses layers by
    it); ``kind`` is ``"feature_map"`` (``shape`` = ``(C, H, W)``),
    ``"vector"`` (``(C,)``) or ``"info"`` (``()``, a panel with a name only);
    ``pos`` is ``(depth, lane)`` on the client's grid and ``precursors`` the
    positions of the layers feeding it.  ``module`` is the qualified name of
    the module whose output (or input) is shown (``""``: the whole model),
    ``weight_module`` the one whose weights the weight histogram shows,
    ``unit`` the tracked module (the one a module list names, ticked in the
    explorer's module tree; ``None`` for layers placed by markers).
    """

    id: int
    name: str
    kind: str
    shape: tuple[int, ...]
    pos: Pos
    precursors: tuple[Pos, ...]
    module: str | None
    weight_module: str | None
    unit: str | None = None

    @property
    def channels(self) -> int:
        return self.shape[0] if self.shape else 0

    @property
    def shows_class_names(self) -> bool:
        """A vector whose channels are the classes (the client labels them)."""
        return self.kind == VECTOR and "(display_classnames)" in self.name


class StopForward(Exception):
    """Raised from a hook to end a forward pass once the target layer ran."""


def check_layers(layers: Sequence[LayerSpec]) -> None:
    """Raise ``ValueError`` unless positions are unique and every precursor
    is some layer's position: the VR client breaks on either."""
    owner: dict[Pos, str] = {}
    for layer in layers:
        if layer.pos in owner:
            msg = (f"layers {owner[layer.pos]!r} and {layer.name!r} share pos {layer.pos}: two layers must never "
                   f"share a (depth, lane) position (the VR client cannot show both); give one of them another pos")
            raise ValueError(msg)
        owner[layer.pos] = layer.name
    for layer in layers:
        missing = [p for p in layer.precursors if p not in owner]
        if missing:
            msg = (f"layer {layer.name!r} at {layer.pos} names precursors {missing} that no layer has "
                   f"(positions in use: {sorted(owner)})")
            raise ValueError(msg)


def find_layer(layers: Sequence[Layer], ref) -> Layer:
    """The layer ``ref`` names: its id, the ``Layer`` itself, its name or its module's name."""
    from ..errors import BadRequest, NotFound

    if isinstance(ref, Layer):
        if 0 <= ref.id < len(layers) and layers[ref.id] == ref:
            return ref
        msg = f"layer {ref.name!r} is not a layer of this network (it was re-tracked or attached again?)"
        raise NotFound(msg, field="layerid")
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        msg = f"a layer is named by its id (int), name or module name (str), got {type(ref).__name__}"
        raise BadRequest(msg, field="layerid")
    if isinstance(ref, int):
        if not 0 <= ref < len(layers):
            msg = f"layer id {ref} is out of range: this network has {len(layers)} layers (0..{len(layers) - 1})"
            raise NotFound(msg, field="layerid")
        return layers[ref]
    for layer in layers:
        if layer.name == ref:
            return layer
    for layer in layers:
        if layer.module == ref:
            return layer
    msg = f"no layer is named {ref!r}; names: {[layer.name for layer in layers]}"
    raise NotFound(msg, field="layerid")
