"""Record the activations of tracked layers with forward hooks.

Hooks stay installed on the engine's shadow model for its lifetime (never on
the user's model).  They write into a recorder held in a thread-local, so
the same shadow (or a deep copy of it, whose hooks are the same functions)
can run in several threads at once: an input switch and a feature
visualization never see each other's tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn

from .attention import attention_weights
from .layers import RECORD_ATTENTION, RECORD_INPUT, SOFTMAX, LayerSpec, StopForward

_recording = threading.local()


class ForwardGate:
    """Many forward passes at once, or one torch.fx trace alone.

    fx tracing patches ``nn.Module.__call__`` process-wide while it runs, so a
    forward pass in another thread (the server answering while a notebook
    attaches a second model) would be traced by mistake.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._running = 0
        self._tracing = False

    @contextmanager
    def forward(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._tracing)
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    @contextmanager
    def trace(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._tracing and self._running == 0)
            self._tracing = True
        try:
            yield
        finally:
            with self._cond:
                self._tracing = False
                self._cond.notify_all()


GATE = ForwardGate()


class _Recorder:
    def __init__(self, n_layers: int, stop_at: int | None, keep_graph: bool, on_record=None):
        self.values: list[torch.Tensor | None] = [None] * n_layers
        self.stop_at = stop_at
        self.keep_graph = keep_graph
        self.on_record = on_record


def first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        # torchvision segmentation models answer {"out": ..., "aux": ...}
        value = value.get("out", next(iter(value.values()), None))
        return first_tensor(value)
    if isinstance(value, (tuple, list)) and value:
        return first_tensor(value[0])
    return None


def layer_tensor(value: torch.Tensor) -> torch.Tensor:
    """A recorded value's first batch item as shown: [C, H, W] (a map per
    channel) or [C] (one value per channel)."""
    item = value[0] if value.dim() >= 1 else value.reshape(1)
    if item.dim() == 0:
        return item.reshape(1)
    if item.dim() == 2:  # [C, L] sequences: a one-row map per channel
        return item.unsqueeze(1)
    if item.dim() > 3:
        return item.flatten(2)
    return item


class HookCapture:
    """Records ``layers`` (``LayerSpec.source`` names modules of ``model``)."""

    def __init__(self, model: nn.Module, layers: Sequence[LayerSpec]):
        self.layers = list(layers)
        modules = dict(model.named_modules())
        by_module: dict[tuple[str, str], list[int]] = {}
        for index, layer in enumerate(self.layers):
            if layer.info_only or layer.source is None:
                continue
            if layer.source not in modules:
                msg = f"tracked layer {layer.name!r} names module {layer.source!r}, which the model does not have"
                raise ValueError(msg)
            by_module.setdefault((layer.source, layer.record), []).append(index)
        self._handles = []
        for (name, record), indices in by_module.items():
            module = modules[name]
            if record == RECORD_INPUT:
                hook = self._make_pre_hook(indices)
                self._handles.append(module.register_forward_pre_hook(hook))
            elif record == RECORD_ATTENTION:
                hook = self._make_attention_hook(indices)
                self._handles.append(module.register_forward_hook(hook, with_kwargs=True))
            else:
                hook = self._make_hook(indices)
                self._handles.append(module.register_forward_hook(hook))

    def _store(self, indices, value):
        recorder: _Recorder | None = getattr(_recording, "recorder", None)
        if recorder is None:
            return
        tensor = first_tensor(value)
        if tensor is None:
            return
        for index in indices:
            if recorder.values[index] is not None:
                continue  # a module called twice keeps its first call
            value_i = tensor
            if self.layers[index].post == SOFTMAX:
                value_i = torch.softmax(value_i.flatten(1) if value_i.dim() == 2 else value_i, dim=1)
            if self.layers[index].view is not None:
                value_i = self.layers[index].view(value_i)
            recorder.values[index] = value_i if recorder.keep_graph else value_i.detach().clone()
            if recorder.on_record is not None:
                recorder.on_record(index, recorder.values[index])
        if recorder.stop_at is not None and recorder.values[recorder.stop_at] is not None:
            raise StopForward

    def _make_hook(self, indices):
        def hook(module, inputs, output):
            self._store(indices, output)

        return hook

    def _make_attention_hook(self, indices):
        def hook(module, args, kwargs, output):
            recorder: _Recorder | None = getattr(_recording, "recorder", None)
            if recorder is not None and any(recorder.values[i] is None for i in indices):
                self._store(indices, attention_weights(module, args, kwargs))

        return hook

    def _make_pre_hook(self, indices):
        def hook(module, inputs):
            self._store(indices, inputs)

        return hook

    def run(self, model: nn.Module, x: torch.Tensor, stop_at: int | None = None, keep_graph: bool = False,
            on_record=None):
        """Forward ``x`` through ``model`` (the shadow or a deep copy of it).

        Returns ``(output, activations)`` aligned with ``self.layers``; with
        ``stop_at`` the pass ends once that layer was recorded and ``output``
        is ``None``.  ``on_record(index, tensor)`` is called as each layer is
        recorded, while the pass goes on (the engine starts encoding there).
        """
        recorder = _Recorder(len(self.layers), stop_at, keep_graph, on_record)
        previous = getattr(_recording, "recorder", None)
        _recording.recorder = recorder
        output = None
        try:
            with GATE.forward():
                output = model(x)
        except StopForward:
            pass
        finally:
            _recording.recorder = previous
        return first_tensor(output), recorder.values

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
