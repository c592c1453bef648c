"""Which modules become tracked layers: the *units* of automatic tracking.

By default a readable set (stem, each residual / inverted-residual / dense
block, pooling, the classifier), opened from the module tree; or exactly the
modules a user names (``track=``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# Blocks shown as one layer each (never opened), by class name.
KNOWN_BLOCKS = frozenset(
    "BasicBlock Bottleneck InvertedResidual MBConv FusedMBConv _DenseBlock _Transition ConvNormActivation"
    " Conv2dNormActivation Conv3dNormActivation ResBottleneckBlock CNBlock Fire BasicConv2d InceptionA InceptionB"
    " InceptionC InceptionD InceptionE InceptionAux Inception".split()
)
# Modules folded into the unit before them (conv -> bn -> relu), by defining module.
_FOLDABLE = tuple(f"torch.nn.modules.{m}" for m in ("activation", "batchnorm", "normalization", "instancenorm"))
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
MAX_UNITS = 48  # default mode stays within the 10-50 layers a VR scene shows well
HOW_TO_LIST = "see dvvr.trackable_modules(model) for valid names"

TrackArg = None | str | list | tuple | Callable[[str, nn.Module], bool]


def trackable_modules(model: nn.Module) -> list[str]:
    """Qualified names ``track=`` accepts: every submodule of ``model``.

    Discovery paired with use, as ``dvvr.attach(model, track=[...])`` takes
    any of these names.
    """
    if not isinstance(model, nn.Module):
        msg = f"trackable_modules() needs a torch.nn.Module, got {type(model).__name__}"
        raise TypeError(msg)
    return [name for name, _ in model.named_modules() if name]


# ---------------------------------------------------------------- module kinds


def has_matrix_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dim() >= 2


def is_pool(module: nn.Module) -> bool:
    return "Pool" in type(module).__name__


def is_norm_or_act(module: nn.Module) -> bool:
    return type(module).__module__.startswith(_FOLDABLE)


def _is_container(module: nn.Module) -> bool:
    # Plain grouping: a container whose forward is the stock one (or none).
    if type(module) in _CONTAINERS:
        return True
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _is_block_like(module: nn.Module) -> bool:
    return bool(list(module.children())) and not _is_container(module)


def weights_of(model: nn.Module, name: str, exclude: str | None = None) -> str | None:
    """The module whose weights represent ``name``: itself, else its last conv/linear."""
    module = model.get_submodule(name)
    if isinstance(getattr(module, "weight", None), torch.Tensor):
        return name
    found = None
    for sub, child in module.named_modules(prefix=name):
        if exclude and (sub == exclude or sub.startswith(exclude + ".")):
            continue
        if has_matrix_weight(child):
            found = sub
    return found


# ------------------------------------------------------------- unit selection


def _default_units(model: nn.Module, closed: frozenset[str]) -> tuple[list[str], dict[str, int]]:
    """Units in registration order, and how many units each opened module holds."""
    units: list[str] = []
    opened: dict[str, int] = {}

    def visit(prefix: str, module: nn.Module) -> int:
        count = 0
        for name, child in module.named_children():
            qual = f"{prefix}.{name}" if prefix else name
            if not list(child.children()):
                if has_matrix_weight(child) or is_pool(child):
                    units.append(qual)
                    count += 1
            elif qual not in closed and _should_open(child):
                opened[qual] = visit(qual, child)
                count += opened[qual]
            else:
                units.append(qual)
                count += 1
        return count

    visit("", model)
    return units, opened


def _should_open(module: nn.Module) -> bool:
    if type(module).__name__ in KNOWN_BLOCKS:
        return False
    if _is_container(module):
        return True
    # A custom module holding known blocks, or repeating one kind of block, is
    # a stage (open it); one holding leaves, containers or one helper (an SE
    # module) is itself a block.
    kinds: dict[type, int] = {}
    for sub in list(module.modules())[1:]:
        if type(sub).__name__ in KNOWN_BLOCKS:
            return True
        if _is_block_like(sub):
            kinds[type(sub)] = kinds.get(type(sub), 0) + 1
    return any(count >= 2 for count in kinds.values())


def auto_units(model: nn.Module) -> list[str]:
    closed: frozenset[str] = frozenset()
    while True:
        units, opened = _default_units(model, closed)
        if len(units) <= MAX_UNITS or not opened:
            return units
        # Too many: show the opened module holding the most units as one layer.
        closed |= {max(opened, key=opened.get)}


def explicit_units(model: nn.Module, track) -> list[str]:
    modules = dict(model.named_modules())
    if isinstance(track, str):
        if track != "all":
            msg = f"track={track!r}: the only string accepted is 'all' (or pass a list of module names; {HOW_TO_LIST})"
            raise ValueError(msg)
        names = [
            n
            for n, m in modules.items()
            if n and not list(m.children()) and (any(True for _ in m.parameters(recurse=False)) or is_pool(m))
        ]
    elif callable(track):
        names = [n for n, m in modules.items() if n and track(n, m)]
    elif isinstance(track, (list, tuple)):
        bad_types = [t for t in track if not isinstance(t, str)]
        if bad_types:
            msg = f"track must list module names as str, got {bad_types!r}; {HOW_TO_LIST}"
            raise TypeError(msg)
        unknown = [t for t in track if t not in modules or not t]
        if unknown:
            msg = f"track names modules the model does not have: {unknown}; {HOW_TO_LIST}"
            raise ValueError(msg)
        names = list(dict.fromkeys(track))
    else:
        msg = (
            f"track must be None, 'all', a list of module names or a callable(name, module), got {type(track).__name__}"
        )
        raise TypeError(msg)
    if not names:
        msg = f"track={track!r} selects no modules; {HOW_TO_LIST}"
        raise ValueError(msg)
    for outer in names:
        inner = next((n for n in names if n.startswith(outer + ".")), None)
        if inner:
            msg = f"tracked modules must not contain one another: {outer!r} contains {inner!r}"
            raise ValueError(msg)
    return names
