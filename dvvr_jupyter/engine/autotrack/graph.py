"""Edges between units, read from a ``torch.fx`` graph in which the units are
leaves (a unit's precursors are its nearest tracked ancestors), or, for models
fx cannot trace, from call order."""

from __future__ import annotations

import logging
import operator
from collections import Counter

import torch
from torch import fx, nn

from ..capture import GATE, first_tensor
from ..layers import RECORD_INPUT, RECORD_OUTPUT
from .units import has_matrix_weight, is_norm_or_act, weights_of

log = logging.getLogger("dvvr.engine")

_MERGES = {operator.add, operator.iadd, torch.add, "add", "add_"}

# --------------------------------------------------------------------- probe


class Probe:
    """One eval-mode, no-grad forward pass noting each module's first call."""

    def __init__(self, model: nn.Module, example: torch.Tensor, keep: set[str]):
        self.order: list[str] = []  # modules in order of finishing their first call
        self.shapes: dict[str, torch.Size | None] = {}
        self.keep = keep
        self.last_kept: torch.Tensor | None = None  # to tell if a unit's output is the model's
        self._said = False  # the sequence-first log line, once
        handles = []
        flags = [(m, m.training) for m in model.modules()]
        try:
            for name, module in model.named_modules():
                if name:
                    handles.append(module.register_forward_hook(self._hook(name)))
            model.eval()
            with torch.no_grad(), GATE.forward():
                self.output = first_tensor(model(example))
        finally:
            for handle in handles:
                handle.remove()
            for module, flag in flags:
                module.training = flag

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if name in self.shapes:
                return  # HookCapture records first calls too
            tensor = first_tensor(output)
            self.order.append(name)
            self.shapes[name] = None if tensor is None else tensor.shape
            if name in self.keep:
                self.last_kept = tensor

        return hook

    def recordable(self, name: str, batch: int) -> bool:
        shape = self.shapes.get(name)
        if shape is not None and len(shape) == 3 and shape[0] != batch and shape[1] == batch and not self._said:
            # torch's transformer modules default to batch_first=False: [tokens, batch, dim].  Not shown
            # (yet); say so once, instead of the blocks vanishing without a word.
            self._said = True
            log.info("module %r answers a sequence-first tensor %s (tokens, batch, channels: batch_first=False): "
                     "such modules are not shown; a model that keeps the batch first is", name, list(shape))
        return shape is not None and len(shape) >= 2 and shape[0] == batch


# ------------------------------------------------------------------- fx graph


class _UnitTracer(fx.Tracer):
    def __init__(self, leaves: set[str]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)


def trace(module: nn.Module, leaves: set[str]) -> fx.Graph:
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
        graph = trace(block, set())
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


class Entry:
    """A layer before layout: precursors are other entries, not positions yet."""

    def __init__(self, name, source, prec=(), record=RECORD_OUTPUT, weight_module=None, post=None, view=None,
                 unit=None):
        self.name, self.source, self.record = name, source, record
        self.prec = list(dict.fromkeys(prec))
        self.weight_module, self.post, self.view = weight_module, post, view
        self.unit = unit  # the unit (module) shown, when its source is a module folded into it


def _short(module: nn.Module) -> str:
    name = type(module).__name__.lstrip("_")
    return "BN" if name.startswith("BatchNorm") else name


def unit_name(model: nn.Module, qual: str, absorbed: list[str]) -> str:
    module = model.get_submodule(qual)
    last = qual.rsplit(".", 1)[-1]
    name = f"{qual} {_short(module)}" if last.isdigit() or list(module.children()) else qual
    # Name what was folded in, except the usual norm right after a conv/linear.
    folded = [model.get_submodule(a) for a in absorbed]
    shown = [_short(m) for m in folded if not (has_matrix_weight(module) and "Norm" in type(m).__name__)]
    return name + "".join(f"+{s}" for s in shown)


def _is_stem(model: nn.Module, entry: Entry, first: Entry) -> bool:
    weight = entry.weight_module and getattr(model.get_submodule(entry.weight_module), "weight", None)
    return entry.prec == [first] and isinstance(weight, torch.Tensor) and weight.dim() == 4


def _is_metadata(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in ("size", "dim")
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in ("shape", "ndim", "dtype", "device")
    return node.op == "call_function" and node.target is len


class GraphBuilder:
    """Entries from an fx graph whose leaves are the units."""

    def __init__(self, model, graph, units, probe, batch, default):
        self.model, self.graph, self.probe, self.batch = model, graph, probe, batch
        self.units, self.default = set(units), default
        self.calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
        self.entries = [Entry("Input", "", record=RECORD_INPUT)]
        self.anc: dict[fx.Node, list[Entry]] = {}
        self.end_of: dict[Entry, fx.Node] = {}

    def build(self) -> tuple[list[Entry], Entry | None, list[Entry]]:
        """(entries, the entry that is the model output or None, output's precursors)."""
        placed: set[str] = set()  # units placed so far: HookCapture records first calls
        chain: dict[fx.Node, Entry] = {}  # absorbed norm/activation nodes -> their entry
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
            if not is_norm_or_act(self.model.get_submodule(user.target)):
                break
            if not self.probe.recordable(user.target, self.batch):
                break
            absorbed.append(user)
            node = user
        return absorbed

    def _place(self, node, prec, chain) -> Entry:
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
        name = unit_name(self.model, qual, [a.target for a in absorbed])
        if split:
            main = Entry(
                f"{qual} Main ({split[1]})",
                f"{qual}.{split[1]}",
                prec,
                weight_module=weights_of(self.model, qual, exclude=skip_path),
            )
            skip = Entry(
                f"{qual} Skip ({split[0]})", skip_path, prec, weight_module=weights_of(self.model, skip_path)
            )
            self.entries += [main, skip]
            prec = [main, skip]
        entry = Entry(name, source, prec, weight_module=weights_of(self.model, qual, exclude=skip_path), unit=qual)
        if self.default and len(self.entries) == 1 and _is_stem(self.model, entry, self.entries[0]):
            entry.name = f"Stem ({qual})"
        self.entries.append(entry)
        for a in absorbed:
            chain[a] = entry
        self.end_of[entry] = absorbed[-1] if absorbed else node
        return entry


def entries_from_calls(model, units, probe, batch, default):
    """Fallback without a graph: units in call order, each fed by the one before."""
    entries = [Entry("Input", "", record=RECORD_INPUT)]
    wanted = set(units)
    for name in probe.order:
        if name in wanted and probe.recordable(name, batch):
            entry = Entry(unit_name(model, name, []), name, [entries[-1]], weight_module=weights_of(model, name))
            if default and len(entries) == 1 and _is_stem(model, entry, entries[0]):
                entry.name = f"Stem ({name})"
            entries.append(entry)
    last = entries[-1]
    is_output = len(entries) > 1 and probe.last_kept is not None and probe.last_kept is probe.output
    return entries, (last if is_output else None), [last]
