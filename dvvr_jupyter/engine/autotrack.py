"""Automatic tracking: derive readable tracked layers for an unmodified model.

``derive_layers`` picks *units* from the module tree (input, stem, each
residual / inverted-residual / dense block, pooling, the classifier), then
reads their edges from a ``torch.fx`` graph in which the units are leaves: a
unit's precursors are its nearest tracked ancestors.  A block with a module
on its skip path (ResNet's ``downsample``) gets two extra layers, its main
path at lane 0 and its skip at lane 1, both feeding the block output.  Models
fx cannot trace fall back to a hook pass: units in call order, one lane.

Every source is something ``HookCapture`` can record: a module's input or
output, or the whole model's.  The model is left exactly as found.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from collections.abc import Callable

import torch
from torch import fx, nn

from .capture import GATE, _first_tensor
from .layers import LayerSpec, Pos

# Blocks shown as one layer each (never opened), by class name.
KNOWN_BLOCKS = frozenset(
    "BasicBlock Bottleneck InvertedResidual MBConv FusedMBConv _DenseBlock _Transition ConvNormActivation"
    " Conv2dNormActivation Conv3dNormActivation ResBottleneckBlock CNBlock Fire BasicConv2d InceptionA InceptionB"
    " InceptionC InceptionD InceptionE InceptionAux Inception".split()
)
# Modules folded into the unit before them (conv -> bn -> relu), by defining module.
_FOLDABLE = tuple(f"torch.nn.modules.{m}" for m in ("activation", "batchnorm", "normalization", "instancenorm"))
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_MERGES = {operator.add, operator.iadd, torch.add, "add", "add_"}
MAX_UNITS = 48  # default mode stays within the 10-50 layers a VR scene shows well
_HOW_TO_LIST = "see dvvr_jupyter.engine.autotrack.trackable_modules(model) for valid names"

TrackArg = None | str | list | tuple | Callable[[str, nn.Module], bool]


def trackable_modules(model: nn.Module) -> list[str]:
    """Qualified names ``track=`` accepts (every submodule)."""
    return [name for name, _ in model.named_modules() if name]


def check_layers(layers: list[LayerSpec]) -> None:
    """Raise ValueError unless positions are unique and precursors exist."""
    seen: set[Pos] = set()
    for layer in layers:
        if layer.pos in seen:
            msg = f"two layers share pos {layer.pos} (second: {layer.name!r})"
            raise ValueError(msg)
        seen.add(layer.pos)
    for layer in layers:
        missing = [p for p in layer.precursors if p not in seen]
        if missing:
            msg = f"layer {layer.name!r} at {layer.pos} names precursors {missing} that no layer has"
            raise ValueError(msg)


# ---------------------------------------------------------------- module kinds


def _has_matrix_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dim() >= 2


def _is_pool(module: nn.Module) -> bool:
    return "Pool" in type(module).__name__


def _is_norm_or_act(module: nn.Module) -> bool:
    return type(module).__module__.startswith(_FOLDABLE)


def _is_container(module: nn.Module) -> bool:
    # Plain grouping: a container whose forward is the stock one (or none).
    if type(module) in _CONTAINERS:
        return True
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _is_block_like(module: nn.Module) -> bool:
    return bool(list(module.children())) and not _is_container(module)


def _weight_module(model: nn.Module, name: str, exclude: str | None = None) -> str | None:
    """The module whose weights represent ``name``: itself, else its last conv/linear."""
    module = model.get_submodule(name)
    if isinstance(getattr(module, "weight", None), torch.Tensor):
        return name
    found = None
    for sub, child in module.named_modules(prefix=name):
        if exclude and (sub == exclude or sub.startswith(exclude + ".")):
            continue
        if _has_matrix_weight(child):
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
                if _has_matrix_weight(child) or _is_pool(child):
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


def _auto_units(model: nn.Module) -> list[str]:
    closed: frozenset[str] = frozenset()
    while True:
        units, opened = _default_units(model, closed)
        if len(units) <= MAX_UNITS or not opened:
            return units
        # Too many: show the opened module holding the most units as one layer.
        closed |= {max(opened, key=opened.get)}


def _explicit_units(model: nn.Module, track) -> list[str]:
    modules = dict(model.named_modules())
    if isinstance(track, str):
        if track != "all":
            msg = f"track={track!r}: the only string accepted is 'all' (or pass a list of module names; {_HOW_TO_LIST})"
            raise ValueError(msg)
        names = [
            n
            for n, m in modules.items()
            if n and not list(m.children()) and (any(True for _ in m.parameters(recurse=False)) or _is_pool(m))
        ]
    elif callable(track):
        names = [n for n, m in modules.items() if n and track(n, m)]
    elif isinstance(track, (list, tuple)):
        bad_types = [t for t in track if not isinstance(t, str)]
        if bad_types:
            msg = f"track must list module names as str, got {bad_types!r}; {_HOW_TO_LIST}"
            raise TypeError(msg)
        unknown = [t for t in track if t not in modules or not t]
        if unknown:
            msg = f"track names modules the model does not have: {unknown}; {_HOW_TO_LIST}"
            raise ValueError(msg)
        names = list(dict.fromkeys(track))
    else:
        msg = (
            f"track must be None, 'all', a list of module names or a callable(name, module), got {type(track).__name__}"
        )
        raise TypeError(msg)
    if not names:
        msg = f"track={track!r} selects no modules; {_HOW_TO_LIST}"
        raise ValueError(msg)
    for outer in names:
        inner = next((n for n in names if n.startswith(outer + ".")), None)
        if inner:
            msg = f"tracked modules must not contain one another: {outer!r} contains {inner!r}"
            raise ValueError(msg)
    return names


# --------------------------------------------------------------------- probe


class _Probe:
    """One eval-mode, no-grad forward pass noting each module's first call."""

    def __init__(self, model: nn.Module, example: torch.Tensor, keep: set[str]):
        self.order: list[str] = []  # modules in order of finishing their first call
        self.shapes: dict[str, torch.Size | None] = {}
        self.keep = keep
        self.last_kept: torch.Tensor | None = None  # to tell if a unit's output is the model's
        handles = []
        flags = [(m, m.training) for m in model.modules()]
        try:
            for name, module in model.named_modules():
                if name:
                    handles.append(module.register_forward_hook(self._hook(name)))
            model.eval()
            with torch.no_grad(), GATE.forward():
                self.output = _first_tensor(model(example))
        finally:
            for handle in handles:
                handle.remove()
            for module, flag in flags:
                module.training = flag

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if name in self.shapes:
                return  # HookCapture records first calls too
            tensor = _first_tensor(output)
            self.order.append(name)
            self.shapes[name] = None if tensor is None else tensor.shape
            if name in self.keep:
                self.last_kept = tensor

        return hook

    def recordable(self, name: str, batch: int) -> bool:
        shape = self.shapes.get(name)
        return shape is not None and len(shape) >= 2 and shape[0] == batch


# ------------------------------------------------------------------- fx graph


class _UnitTracer(fx.Tracer):
    def __init__(self, leaves: set[str]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)


def _trace(module: nn.Module, leaves: set[str]) -> fx.Graph:
    # fx stores tensor constants as new attributes on the root: undo that.
    before = set(vars(module))
    try:
        with GATE.trace():  # no forward pass of another thread may run meanwhile
            return _UnitTracer(leaves).trace(module)
    finally:
        for key in set(vars(module)) - before:
            delattr(module, key)


def _output_value(graph: fx.Graph):
    out = next(n for n in graph.nodes if n.op == "output").args[0]
    while isinstance(out, (dict, tuple, list)) and out:
        out = out.get("out", next(iter(out.values()))) if isinstance(out, dict) else out[0]
    return out


def _skip_branch(block: nn.Module) -> tuple[str, str] | None:
    """(skip child, main child) when the block adds a module skip path to its main path."""
    try:
        graph = _trace(block, set())
    except Exception:  # noqa: BLE001 - an untraceable block just gets no skip lane
        return None
    node = _output_value(graph)
    while isinstance(node, fx.Node) and node.op != "placeholder" and node.target not in _MERGES:
        if len(node.all_input_nodes) != 1:
            return None
        node = node.all_input_nodes[0]  # through the final relu
    if not isinstance(node, fx.Node) or len(node.all_input_nodes) != 2:
        return None
    ends = node.all_input_nodes
    if any(end.op != "call_module" for end in ends):
        return None  # identity skip: nothing of its own to record
    depth: dict[fx.Node, int] = {}
    for n in graph.nodes:  # the skip path is the shorter branch
        depth[n] = 1 + max((depth[i] for i in n.all_input_nodes), default=-1)
    skip, main = sorted(ends, key=lambda n: depth[n])
    skip_child, main_child = skip.target.split(".")[0], main.target
    calls = [n.target for n in graph.nodes if n.op == "call_module"]
    if skip_child == main_child.split(".")[0] or calls.count(main_child) != 1:
        return None
    return skip_child, main_child


# ------------------------------------------------------------------- entries


class _Entry:
    """A layer before layout: precursors are other entries, not positions yet."""

    def __init__(self, name, source, prec=(), record="output", weight_module=None, post=None):
        self.name, self.source, self.record = name, source, record
        self.prec = list(dict.fromkeys(prec))
        self.weight_module, self.post = weight_module, post


def _short(module: nn.Module) -> str:
    name = type(module).__name__.lstrip("_")
    return "BN" if name.startswith("BatchNorm") else name


def _unit_name(model: nn.Module, qual: str, absorbed: list[str]) -> str:
    module = model.get_submodule(qual)
    last = qual.rsplit(".", 1)[-1]
    name = f"{qual} {_short(module)}" if last.isdigit() or list(module.children()) else qual
    # Name what was folded in, except the usual norm right after a conv/linear.
    folded = [model.get_submodule(a) for a in absorbed]
    shown = [_short(m) for m in folded if not (_has_matrix_weight(module) and "Norm" in type(m).__name__)]
    return name + "".join(f"+{s}" for s in shown)


def _is_stem(model: nn.Module, entry: _Entry, first: _Entry) -> bool:
    weight = entry.weight_module and getattr(model.get_submodule(entry.weight_module), "weight", None)
    return entry.prec == [first] and isinstance(weight, torch.Tensor) and weight.dim() == 4


def _is_metadata(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in ("size", "dim")
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in ("shape", "ndim", "dtype", "device")
    return node.op == "call_function" and node.target is len


class _GraphBuilder:
    """Entries from an fx graph whose leaves are the units."""

    def __init__(self, model, graph, units, probe, batch, default):
        self.model, self.graph, self.probe, self.batch = model, graph, probe, batch
        self.units, self.default = set(units), default
        self.calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
        self.entries = [_Entry("Input", "", record="input")]
        self.anc: dict[fx.Node, list[_Entry]] = {}
        self.end_of: dict[_Entry, fx.Node] = {}

    def build(self) -> tuple[list[_Entry], _Entry | None, list[_Entry]]:
        """(entries, the entry that is the model output or None, output's precursors)."""
        placed: set[str] = set()  # units placed so far: HookCapture records first calls
        chain: dict[fx.Node, _Entry] = {}  # absorbed norm/activation nodes -> their entry
        fed = False
        for node in self.graph.nodes:
            inherited = [e for i in node.all_input_nodes for e in self.anc.get(i, [])]
            if node in chain:
                self.anc[node] = [chain[node]]
            elif _is_metadata(node):
                self.anc[node] = []  # x.shape feeds sizes, not data: no edge
            elif node.op == "placeholder":
                # The example feeds the first input; other inputs are defaults.
                self.anc[node], fed = ([] if fed else [self.entries[0]]), True
            elif (
                node.op == "call_module"
                and node.target in self.units
                and node.target not in placed
                and self.probe.recordable(node.target, self.batch)
            ):
                placed.add(node.target)
                entry = self._place(node, inherited, chain)
                self.anc[node] = [entry]
            else:
                self.anc[node] = list(dict.fromkeys(inherited))
        out = _output_value(self.graph)
        prec = self.anc.get(out, []) if isinstance(out, fx.Node) else []
        final = next((e for e, end in self.end_of.items() if end is out), None)
        return self.entries, final, prec

    def _absorb(self, node: fx.Node) -> list[fx.Node]:
        absorbed = []
        while len(node.users) == 1:
            user = next(iter(node.users))
            if user.op != "call_module" or self.calls.get(user.target) != 1 or user.all_input_nodes != [node]:
                break
            if not _is_norm_or_act(self.model.get_submodule(user.target)):
                break
            if not self.probe.recordable(user.target, self.batch):
                break
            absorbed.append(user)
            node = user
        return absorbed

    def _place(self, node, prec, chain) -> _Entry:
        qual = node.target
        module = self.model.get_submodule(qual)
        absorbed = self._absorb(node) if self.default else []
        # Only a one-input block's branches are both fed by the block's input.
        one_input = len(node.all_input_nodes) == 1
        split = _skip_branch(module) if self.default and one_input and list(module.children()) else None
        if split and not all(self.probe.recordable(f"{qual}.{c}", self.batch) for c in split):
            split = None
        skip_path = f"{qual}.{split[0]}" if split else None
        source = absorbed[-1].target if absorbed else qual
        name = _unit_name(self.model, qual, [a.target for a in absorbed])
        if split:
            main = _Entry(
                f"{qual} Main ({split[1]})",
                f"{qual}.{split[1]}",
                prec,
                weight_module=_weight_module(self.model, qual, exclude=skip_path),
            )
            skip = _Entry(
                f"{qual} Skip ({split[0]})", skip_path, prec, weight_module=_weight_module(self.model, skip_path)
            )
            self.entries += [main, skip]
            prec = [main, skip]
        entry = _Entry(name, source, prec, weight_module=_weight_module(self.model, qual, exclude=skip_path))
        if self.default and len(self.entries) == 1 and _is_stem(self.model, entry, self.entries[0]):
            entry.name = f"Stem ({qual})"
        self.entries.append(entry)
        for a in absorbed:
            chain[a] = entry
        self.end_of[entry] = absorbed[-1] if absorbed else node
        return entry


def _entries_from_calls(model, units, probe, batch, default):
    """Fallback without a graph: units in call order, each fed by the one before."""
    entries = [_Entry("Input", "", record="input")]
    wanted = set(units)
    for name in probe.order:
        if name in wanted and probe.recordable(name, batch):
            entry = _Entry(_unit_name(model, name, []), name, [entries[-1]], weight_module=_weight_module(model, name))
            if default and len(entries) == 1 and _is_stem(model, entry, entries[0]):
                entry.name = f"Stem ({name})"
            entries.append(entry)
    last = entries[-1]
    is_output = len(entries) > 1 and probe.last_kept is not None and probe.last_kept is probe.output
    return entries, (last if is_output else None), [last]


def _finish(entries, final, out_prec, output: torch.Tensor | None, whole: bool) -> None:
    """Mark the class scores; showing the whole model, add Output and probabilities."""
    dims = output.dim() if output is not None else 0
    if final is None and output is not None and whole:
        label = {2: "Output (display_classnames)", 4: "Output (class maps)"}.get(dims, "Output")
        final = _Entry(label, "", out_prec or [entries[-1]])
        entries.append(final)
    elif final is not None and dims == 2:
        final.name += " (display_classnames)"
    if whole and final is not None and dims == 2:
        entries.append(_Entry("Probabilities (display_classnames)", "", [final], post="softmax"))


def _layout(entries: list[_Entry]) -> list[LayerSpec]:
    # Depth = longest path from the input; layers at one depth take lanes 0, 1, ...
    pos: dict[_Entry, Pos] = {}
    lanes: dict[int, int] = {}
    layers = []
    for entry in entries:
        depth = 1 + max((pos[p][0] for p in entry.prec), default=-1)
        pos[entry] = (depth, lanes.get(depth, 0))
        lanes[depth] = pos[entry][1] + 1
        precursors = tuple(pos[p] for p in entry.prec)
        e = entry
        layers.append(LayerSpec(pos[e], e.name, precursors, e.weight_module, False, e.source, e.record, e.post))
    return layers


# -------------------------------------------------------------------- public


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
    units = _auto_units(model) if default else _explicit_units(model, track)
    probe = _Probe(model, example, keep=set(units))
    batch = example.shape[0]
    try:
        graph = _trace(model, set(units))
    except Exception as exc:  # noqa: BLE001 - any trace failure means: use call order
        warnings.warn(
            f"torch.fx cannot trace {type(model).__name__} ({type(exc).__name__}: {exc}); "
            "tracked layers follow call order on one lane",
            stacklevel=2,
        )
        entries, final, out_prec = _entries_from_calls(model, units, probe, batch, default)
    else:
        entries, final, out_prec = _GraphBuilder(model, graph, units, probe, batch, default).build()
    if isinstance(track, (list, tuple)):
        placed = {e.source for e in entries}
        missing = [u for u in units if u not in placed]
        if missing:
            msg = f"tracked modules {missing} produce no batched tensor in a forward pass (or never run)"
            raise ValueError(msg)
    _finish(entries, final, out_prec, probe.output, whole=default or track == "all")
    layers = _layout(entries)
    check_layers(layers)
    return layers
