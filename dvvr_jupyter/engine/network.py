"""A network as the VR client and the notebook see it: its tracked layers,
its current input and what it shows for it.

The handle, the forward pass, weight sync and re-tracking live here; what
each view shows is ``views.py``, turning an index, image or tensor into an
input is ``input_building.py``, one forward pass per input however many ask
is ``in_flight.py``."""

from __future__ import annotations

import logging
import re
import threading
import warnings
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..errors import Conflict
from . import device_encode, encode
from .capture import HookCapture, layer_tensor
from .cpu_threads import cores, forward_threads, intra_op_threads
from .encode import Histogram
from .events import (
    ORIGIN_NOTEBOOK,
    ORIGIN_REFRESH,
    ORIGIN_VR,
    ORIGIN_WATCH,
    RETRACKED,
    EventHub,
    InputChanged,
    NetworksChanged,
    ResultReady,
)
from .in_flight import InFlight
from .input_building import as_source, build_input, default_source, input_key
from .inputs import Input
from .layers import INFO, Layer, find_layer
from .options import AttachOptions
from .pipeline import InputPipeline
from .result import LayerEncoder, Result
from .result_cache import ResultCache
from .shadow import ShadowModel, input_spec, model_device
from .shown import ShownListeners
from .tracking import Tracking
from .views import SHARED, Views

log = logging.getLogger("dvvr.engine")
DEFAULT_INPUT_SIZE = (224, 224)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "network"


def to_host(output: torch.Tensor | None, tensors: dict[int, torch.Tensor]):
    """``(output, {index: float tensor on the CPU})`` in one copy off the device:
    each ``.cpu()`` of its own would wait for the device and pay a transfer's
    fixed cost, per layer."""
    parts = [tensors[index].detach().float().reshape(-1) for index in tensors]
    if output is not None:
        parts.append(output.detach().float().reshape(-1))
    host = torch.cat(parts).cpu().split([part.numel() for part in parts])
    shown = {index: flat.view(tensors[index].shape) for index, flat in zip(tensors, host, strict=False)}
    return (host[-1].view(output.shape) if output is not None else None), shown


def encode_on_device(output: torch.Tensor | None, layers, on_device: dict[int, torch.Tensor]):
    """``to_host``'s ``(output, {index: float tensor})`` plus ``{index:
    device_encode.Scaled}`` of the shown layers, scaled on the GPU: all in one copy off it."""
    chosen = [index for index, tensor in on_device.items() if layers[index].kind != INFO and tensor.numel()]
    return device_encode.layers_to_host(output, on_device, chosen)


class Network:
    """Handle returned by ``dvvr.attach``: one model shown to the VR client.

    - ``layers``: the tracked ``Layer``s (``layer(ref)`` finds one by id or name);
    - ``input``: the current ``Input``; ``set_input(what)`` shows another one,
      ``refresh()`` recomputes it with the model's current weights;
    - ``result()``: the current ``Result`` (activations, channel images,
      histograms, top classes); ``weight_histogram(layer)``;
    - ``featvis``: feature visualizations of its layers.

    The model itself is never modified: the engine works on a private copy
    (``shadow``) and copies the live weights in whenever an input is computed.
    """

    def __init__(self, model: nn.Module, dataset=None, options: AttachOptions | None = None, *, pool: Executor,
                 events: EventHub, cache_dir: Path, cache: ResultCache | None = None, adopt: bool = False,
                 shown: ShownListeners | None = None):
        if not isinstance(model, nn.Module):
            msg = f"attach() needs a torch.nn.Module, got {type(model).__name__}"
            raise TypeError(msg)
        options = options or AttachOptions()
        self.model = model
        self.options = options
        self.name = options.name or type(model).__name__
        self.dataset = dataset
        self.softmax = options.softmax
        self.id = 0  # the index in the session's networks, set by the session
        self._pool = pool
        self._events = events
        self.device = torch.device(options.device) if options.device is not None else model_device(model)
        class_names = options.class_names
        self.class_names = list(class_names) if class_names is not None else (
            list(dataset.class_names) if dataset is not None else [])
        input_size = options.input_size
        self.input_channels, self.input_dtype = input_spec(model)
        if dataset is not None and len(dataset):
            probe = InputPipeline(options.transform, None, channels=self.input_channels)(dataset.item(0)[0])
            self.input_channels = int(probe.shape[0]) if probe.dim() == 3 else self.input_channels  # as given
            if input_size is None:
                input_size = tuple(probe.shape[-2:])
        if input_size is None:
            warnings.warn(f"network {self.name!r}: no dataset and no input_size; assuming {DEFAULT_INPUT_SIZE}",
                          stacklevel=4)
            input_size = DEFAULT_INPUT_SIZE
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.pipeline = InputPipeline(options.transform, self.input_size, channels=self.input_channels)
        self.shadow = ShadowModel(model, self.device, adopt=adopt)
        self._compute_lock = threading.RLock()  # one forward pass at a time on the shadow
        self._shown = shown  # told each view's new result before it can be read
        self._views = Views(self._views_change if shown is not None else None)  # what each view shows now
        self._in_flight = InFlight()  # (input key, weights) -> the one forward pass computing it
        self._cache = cache if cache is not None else ResultCache(0)
        self._last_nbytes = 0
        self._weight_histograms: dict[tuple[int, int], Histogram | None] = {}
        with self.shadow.lock:
            try:
                self.tracking = Tracking(self.shadow.model, self._example(), options.track)
            except Exception as exc:
                if self.input_channels == 3 or (dataset is not None and len(dataset)):
                    raise self._example_failed(exc) from exc
                # the first convolution declared was not the input's: take the usual 3 channels
                self.input_channels = 3
                self.pipeline = InputPipeline(options.transform, self.input_size, channels=3)
                try:
                    self.tracking = Tracking(self.shadow.model, self._example(), options.track)
                except Exception as again:
                    raise self._example_failed(again) from again
        self.cache_dir = Path(cache_dir) / slug(self.name)
        from .featvis.service import FeatVisService

        #: weights fingerprint -> the weights generation it was first seen at (feature
        #: visualizations say which weights their pictures are of; kept across re-tracks)
        self.weights_versions: dict[str, int] = {}
        self.featvis = FeatVisService(self)

    def _example_failed(self, exc: Exception) -> ValueError:
        """The model's own error on the example input (torchvision's ViT: "Wrong image height!"),
        with the size dvvr gave it: a wrong ``input_size`` is the usual cause."""
        return ValueError(f"network {self.name!r}: the model failed on an example input of shape "
                          f"{list(self._example().shape)} (input_size={self.input_size}; pass the size it "
                          f"takes as input_size=(height, width)): {type(exc).__name__}: {exc}")

    def _example(self) -> torch.Tensor:
        """A zero input batch of one, as the model takes it (tracing, re-tracking)."""
        return torch.zeros(1, self.input_channels, *self.input_size, device=self.device, dtype=self.input_dtype)

    # --- layers ----------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.tracking.layers

    def layer(self, ref) -> Layer:
        """The layer ``ref`` names: its id, name or module name."""
        return find_layer(self.layers, ref)

    # --- inputs ------------------------------------------------------------------
    def make_input(self, what) -> Input:
        """An ``Input`` from a source (``dvvr.DatasetImage`` etc.), an int
        (that image of the network's dataset), a PIL image (transformed as
        dataset images are) or a tensor (already a network input [C, H, W])."""
        return build_input(self, as_source(self, what))

    @property
    def input(self) -> Input:
        """The current input of the shared view (what the VR client and the notebook see)."""
        return self.result().input

    def set_input(self, what, *, origin: str = ORIGIN_NOTEBOOK, view: str | None = None) -> Result:
        """Show ``what`` (see ``make_input``) and return its result; the VR
        client gets it on its next request.  ``view`` names a headset's own
        view (``None``: the shared one)."""
        return self._show(as_source(self, what), origin=origin, view=view)

    # --- results -----------------------------------------------------------------
    def result(self, view: str | None = None) -> Result:
        """The current result (computed on first use; a new headset's view
        starts where the shared view is)."""
        current = self._views.get(view)
        if current is not None:
            return current
        if view is not SHARED:
            shared = self.result(SHARED)
            return self._make_current(shared, origin=ORIGIN_VR, view=view, ticket=self._views.shown_ticket(SHARED))
        # ticket 0: an input chosen meanwhile wins over the default one
        shown = self._show(default_source(self.dataset), origin=ORIGIN_NOTEBOOK, view=SHARED, ticket=0)
        current = self._views.get(SHARED)
        return current if current is not None else shown

    def _views_change(self, changes: dict) -> None:
        self._shown.shown(self.id, changes)

    def announce_views(self) -> None:
        """Tell the session's shown-listeners what every view shows now (one added late)."""
        self._views.announce()

    def mute_views(self) -> None:
        """Tell the shown-listeners nothing more (detached or replaced: its id is
        another's), or nothing until ``unmute_views`` (its id is about to move)."""
        self._views.mute()

    def unmute_views(self) -> None:
        """Tell the shown-listeners again, starting with what every view shows (under the new id)."""
        if self._shown is not None:
            self._views.listen(self._views_change)

    def peek(self, view: str | None = None) -> Result | None:
        """The current result if one was computed, without computing."""
        return self._views.get(view)

    def views(self) -> list[str]:
        """The names of the headsets' own views (the shared view is not listed)."""
        return self._views.names()

    def refresh(self, *, sync: bool = True, origin: str = ORIGIN_REFRESH, view: str | None = None) -> Result:
        """The current input again with the model's current weights
        (``sync=False``: with the weights copied at the last sync)."""
        current, ticket = self._views.current(view)
        if current is None:
            return self._show(default_source(self.dataset), origin=origin, view=view, sync=sync, ticket=0)
        # the same choice again (its ticket): a newer choice made meanwhile wins over it
        return self._show(current.input.source, origin=origin, view=view, sync=sync, input=current.input,
                          ticket=ticket)

    def precompute(self, what, *, should_stop=lambda: False) -> bool:
        """Compute ``what``'s result into the shared cache without showing it
        (idle time: the next switch to it needs no forward pass).  ``False``
        if it was not computed (not shareable, no room, or ``should_stop()``)."""
        source = as_source(self, what)
        key = input_key(source)
        if key is None or should_stop() or self._cached(key) is not None:
            return False
        estimate = self._last_nbytes
        if estimate and not self._cache.has_room(estimate):
            return False  # never evict what someone looked at for a guess
        self._compute_once(key, self.shadow.generation, lambda: self.make_input(source))
        return True

    def _cached(self, key) -> Result | None:
        result = self._cache.get((self, key, self.shadow.generation)) if key is not None else None
        return result if result is not None and result.layers is self.layers else None  # not from before a retrack

    def _show(self, source, *, origin: str, view: str | None, sync: bool = True, input: Input | None = None,
              ticket: int | None = None) -> Result:
        if ticket is None:
            ticket = self._views.take_ticket()
        if sync:
            self.sync_weights()
        key = input_key(source)
        result = self._cached(key)
        if result is None:
            result = self._compute_once(key, self.shadow.generation, lambda: input or self.make_input(source))
        if result.layers is not self.layers:  # computed with the layers a retrack just replaced
            result = self._compute_once(None, self.shadow.generation, lambda: input or self.make_input(source))
        return self._make_current(result, origin=origin, view=view, ticket=ticket)

    def _compute_once(self, key, generation: int, make_input) -> Result:
        """One forward pass per (input, weights), however many views ask at once."""

        def compute() -> Result:
            result = self._forward(make_input())
            if key is not None:
                self._cache.put((self, key, result.weights_version), result)
            self._last_nbytes = result.nbytes
            return result

        return self._in_flight.once(None if key is None else (key, generation), compute)

    def _forward(self, input: Input) -> Result:
        with self._compute_lock:
            capture, layers = self.tracking.capture, self.layers
            shown: dict[int, torch.Tensor] = {}  # layer id -> [C, H, W] or [C] on the CPU
            on_device: dict[int, torch.Tensor] = {}  # the same, still on an accelerator
            on_cpu = self.device.type == "cpu"
            # on the CPU the pass leaves a core to the workers encoding what it has recorded (cpu_threads.py) ...
            threads = forward_threads() if on_cpu else torch.get_num_threads()
            # ... and, while the pass runs, the encoders leave it the cores it uses (LayerEncoder)
            encoder = LayerEncoder(self._pool, lanes=max(1, cores() - threads) if on_cpu else None)

            def encode(index: int) -> None:
                if layers[index].kind != INFO:
                    encoder.add(index, shown[index])

            def encode_now(index, activation):
                tensor = layer_tensor(activation)
                if not on_cpu:  # copied off the device all at once after the pass: a copy per layer waits for it
                    on_device[index] = tensor
                    return
                shown[index] = tensor.float()  # half models: encoded as float
                encode(index)  # overlaps the rest of the forward pass

            with self.shadow.lock, intra_op_threads(threads):
                batch = input.tensor.unsqueeze(0).to(self.device, self.input_dtype)
                try:
                    with torch.no_grad():
                        output, recorded = capture.run(self.shadow.model, batch, on_record=encode_now)
                finally:
                    encoder.open_up()
                version = self.shadow.generation
            if on_device:
                if self.device.type == "cuda":  # scaled and binned there, one copy off it; the CPU deflates
                    output, host, scaled = encode_on_device(output, layers, on_device)
                    encoder.futures.update({index: self._pool.submit(device_encode.channel_images, fields)
                                            for index, fields in scaled.items()})
                else:
                    output, host = to_host(output, on_device)
                shown.update(host)
                for index in host:
                    if index not in encoder.futures:
                        encode(index)
            # A layer this input did not reach (the model's own control flow) shows as zeros
            activations = [shown.get(i) if value is not None else
                           None if layers[i].kind == INFO else torch.zeros(layers[i].shape)
                           for i, value in enumerate(recorded)]
            return Result(input=input, layers=layers, activations=activations,
                          output=None if output is None else output.detach().float().cpu(), class_names=self.class_names,
                          softmax=self.softmax, weights_version=version, pool=self._pool, started=encoder.futures)

    def _make_current(self, result: Result, *, origin: str, view: str | None, ticket: int) -> Result:
        """Show ``result`` in ``view`` unless a choice asked for after it (a
        higher ticket) is shown there already; returns ``result`` either way."""
        shown, previous = self._views.show(result, view, ticket)
        if not shown:
            return result
        # Outside every lock: listeners run on the session's dispatch thread.
        if previous is None or previous.input is not result.input:
            self._events.emit(InputChanged(self, result.input, origin, view))
        if previous is not result or origin in (ORIGIN_REFRESH, ORIGIN_WATCH):
            self._events.emit(ResultReady(self, result, origin, view))
        return result

    # --- weights -----------------------------------------------------------------
    def sync_weights(self, blocking: bool = True) -> bool:
        """Copy the live weights into the engine's copy now; ``False`` if
        ``blocking=False`` and a forward pass holds the copy."""
        if not self.shadow.lock.acquire(blocking=blocking):
            return False
        try:
            if not self.shadow.sync():
                # Re-deriving the layers means an fx trace, which patches
                # nn.Module.__call__ process-wide: never from a server thread
                # while the user's own code may be running a forward pass.
                msg = (f"the structure of network {self.name!r} changed since it was attached (new or resized "
                       f"layers): run dvvr.attach(model, ...) again to show the new one")
                raise Conflict(msg)
        finally:
            self.shadow.lock.release()
        return True

    def retrack(self, track) -> None:
        """Show other modules of the model (``track`` as ``dvvr.attach`` takes
        it) under the same network id; the current input is recomputed with
        the new layers and ``NetworksChanged(self, "retracked")`` is emitted.
        The VR client sees the new architecture the next time it asks.

        Tracking traces the model with torch.fx, which patches
        ``nn.Module.__call__`` process-wide: call this from the thread that
        runs the user's code (the kernel's main thread, between cells), never
        from a server thread (the explorer widget schedules it there).  On a
        bad ``track`` the old layers stay and the error is raised.  Headsets'
        own views start again from the shared view's input.
        """
        example = self._example()
        with self._compute_lock, self.shadow.lock:
            old = self.tracking
            old.close()  # its hooks would record into the new tracking's first pass
            try:
                tracking = Tracking(self.shadow.model, example, track)
            except BaseException:
                old.capture = HookCapture(self.shadow.model, old.specs)
                raise
            self.tracking = tracking
            self.options = replace(self.options, track=track)
            self._weight_histograms.clear()
            shown = self._views.clear()  # results of the old layers: never current again
        self._cache.drop(self)
        from .featvis.service import FeatVisService

        self.featvis.close()
        self.featvis = FeatVisService(self)  # its store is keyed by the architecture
        if shown is not None:
            self._show(shown.input.source, origin=ORIGIN_REFRESH, view=SHARED, input=shown.input)
        self._events.emit(NetworksChanged(self, RETRACKED))

    def weight_histogram(self, layer) -> Histogram | None:
        """16-bin histogram of the weights the layer shows (the engine's copy,
        as last synced), or ``None`` for a layer without weights."""
        layer = self.layer(layer)
        with self.shadow.lock:
            key = (self.shadow.generation, layer.id)
            if key in self._weight_histograms:
                return self._weight_histograms[key]
            module = self.shadow.model.get_submodule(layer.weight_module) if layer.weight_module else None
            weight = getattr(module, "weight", None)
            histogram = encode.histogram(weight) if isinstance(weight, torch.Tensor) else None
            if any(generation != key[0] for generation, _ in self._weight_histograms):
                self._weight_histograms.clear()  # weights moved on: the old ones are never asked again
            self._weight_histograms[key] = histogram
            return histogram

    def close(self) -> None:
        self.featvis.close()
        self._cache.drop(self)

    def __repr__(self) -> str:
        return f"<dvvr Network {self.id} {self.name!r}: {len(self.layers)} layers, input {self.input_size}>"
