"""What the VR client sees of a network: its tracked layers.

A *capture* knows which layers of a model are tracked and how to record their
activations in one forward pass.  Two kinds exist: the seed's explicit
``TrackerModule`` markers (``tracker.py``) and automatic tracking for
unmodified models (``autotrack.py``).  Both work on the engine's private
shadow copy of the user's model (``shadow.py``), never on the user's object.
"""

from __future__ import annotations

from dataclasses import dataclass

Pos = tuple[int, int]


@dataclass(frozen=True)
class LayerSpec:
    """One entry of the architecture answer, before sizes are known.

    ``weight_module`` is the qualified name (in the model) of the module whose
    ``weight`` the weight histogram shows, or ``None``.  ``info_only`` layers
    have ``data_type "None"``: a panel showing only the name.
    """

    pos: Pos
    name: str
    precursors: tuple[Pos, ...] = ()
    weight_module: str | None = None
    info_only: bool = False
    # Where the activation comes from: the qualified name of a module ("" is
    # the whole model) and whether its forward input or output is recorded.
    # ``post="softmax"`` turns the recorded scores into probabilities.
    source: str | None = None
    record: str = "output"
    post: str | None = None


class StopForward(Exception):
    """Raised from a hook to end a forward pass once the target layer ran."""
