"""A network as the VR client sees it: tracked layers, the current input and
the answers computed for it."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import warnings
from concurrent.futures import Executor
from pathlib import Path

import torch
from torch import nn

from ..errors import Conflict
from . import encode
from .capture import HookCapture
from .inputs import InputPipeline
from .layers import LayerSpec
from .result import Result, data_type, layer_answers, layer_tensor
from .shadow import ShadowModel, model_device
from .tracker import has_trackers, tracker_layers, tracker_run_order

log = logging.getLogger("dvvr.engine")
_input_ids = itertools.count(1)
DEFAULT_INPUT_SIZE = (224, 224)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "network"


def derive_layers(model: nn.Module, example: torch.Tensor, track) -> list[LayerSpec]:
    """The seed's TrackerModules when the model has them, else automatic."""
    if track is None and has_trackers(model):
        return tracker_layers(model, tracker_run_order(model, example))
    from .autotrack import derive_layers as auto_layers

    return auto_layers(model, example, track=track)


class Network:
    """Handle returned by ``dvvr.attach``: one user model served to the client."""

    def __init__(self, model: nn.Module, *, name: str, dataset=None, class_names=None, transform=None,
                 input_size=None, softmax=None, track=None, device=None, pool: Executor,
                 cache_dir: Path, adopt: bool = False):
        if not isinstance(model, nn.Module):
            msg = f"attach() needs a torch.nn.Module, got {type(model).__name__}"
            raise TypeError(msg)
        self.model = model
        self.name = name
        self.dataset = dataset
        self.softmax = softmax
        self.track = track
        self.network_id = 0  # set by the session
        self._pool = pool
        self.device = torch.device(device) if device is not None else model_device(model)
        self.class_names = list(class_names) if class_names is not None else (
            list(dataset.class_names) if dataset is not None else [])
        if input_size is None and dataset is not None and len(dataset):
            input_size = tuple(InputPipeline(transform, None)(dataset.item(0)[0]).shape[-2:])
        if input_size is None:
            warnings.warn(f"network {name!r}: no dataset and no input_size; assuming {DEFAULT_INPUT_SIZE}",
                          stacklevel=3)
            input_size = DEFAULT_INPUT_SIZE
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.pipeline = InputPipeline(transform, self.input_size)
        self.shadow = ShadowModel(model, self.device, adopt=adopt)
        self._lock = threading.RLock()  # one forward pass at a time on the shadow
        self._result: Result | None = None
        self._input: tuple[torch.Tensor, dict] | None = None
        self._weight_histograms: dict[tuple[int, int], dict] = {}
        self._build_tracking()
        self.cache_dir = Path(cache_dir) / slug(name)
        from .featvis_service import FeatVisService

        self.featvis = FeatVisService(self)

    # --- tracking ----------------------------------------------------------
    def _zero_input(self) -> torch.Tensor:
        return torch.zeros(3, *self.input_size)

    def _build_tracking(self) -> None:
        example = self._zero_input().unsqueeze(0).to(self.device)
        with self.shadow.lock:
            layers = derive_layers(self.shadow.model, example, self.track)
            capture = HookCapture(self.shadow.model, layers)
            with torch.no_grad():
                _, activations = capture.run(self.shadow.model, example)
        shapes = [None if a is None else layer_tensor(a) for a in activations]
        self.layers = layers
        self.capture = capture
        architecture = [
            {
                "pos": list(layer.pos),
                "layer_name": layer.name,
                "data_type": data_type(t),
                "size": [0] if t is None else [1, *t.shape],
                "precursors": [list(p) for p in layer.precursors],
            }
            for layer, t in zip(layers, shapes, strict=True)
        ]
        output_index = {}
        for layer_id, entry in enumerate(architecture):
            if entry["data_type"] != "None":
                output_index[str(layer_id)] = len(output_index)
        # Replaced whole, never changed in place: readers need no lock.
        self._architecture, self._output_index = architecture, output_index

    def architecture(self) -> dict:
        """The ``network/{n}`` answer."""
        return {"architecture": self._architecture, "class_names": self.class_names,
                "networkid": self.network_id, "layer_id_to_output_index": self._output_index}

    # --- inputs and results --------------------------------------------------
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

    def compute(self, tensor: torch.Tensor | None = None, description: dict | None = None, *,
                sync: bool = True) -> Result:
        """Run one forward pass with the live weights and make it current.

        ``tensor`` (network input [3, H, W]) defaults to the current input;
        ``sync=False`` uses the weights copied at the last sync.
        """
        with self._lock:
            if tensor is None:
                tensor, description = self._input if self._input else (self._default_input())
            tensor = self.pipeline.fit(tensor.detach().float().cpu())
            if sync:
                self.sync_weights()
            with self.shadow.lock:
                batch = tensor.unsqueeze(0).to(self.device)
                started: dict = {}

                def encode_now(index, activation):
                    # Encoding overlaps the rest of the forward pass.
                    if not self.layers[index].info_only:
                        started[index] = self._pool.submit(layer_answers, self.network_id, index,
                                                           layer_tensor(activation.cpu()))

                with torch.no_grad():
                    output, activations = self.capture.run(self.shadow.model, batch, on_record=encode_now)
            result = Result(
                input_id=next(_input_ids), network_id=self.network_id, layers=self.layers,
                activations=[None if a is None else a.cpu() for a in activations],
                output=None if output is None else output.detach().cpu(), class_names=self.class_names,
                softmax=self.softmax, weight_histogram=self.weight_histogram, input_tensor=tensor,
                description=description or {}, pool=self._pool, started=started,
            )
            self._input = (tensor, description or {})
            self._result = result
        return result

    def weight_histogram(self, layer_id: int) -> dict:
        """The ``weighthistogram`` answer from the shadow's current weights,
        cached until they change (training moves them; serving does not)."""
        with self.shadow.lock:
            key = (self.shadow.generation, layer_id)
            cached = self._weight_histograms.get(key)
            if cached is not None:
                return cached
            layer = self.layers[layer_id]
            modules = dict(self.shadow.model.named_modules())
            weight = getattr(modules.get(layer.weight_module), "weight", None) if layer.weight_module else None
            has_weights = isinstance(weight, torch.Tensor)
            counts, bins = encode.histogram(weight) if has_weights else ([], [])
            answer = {"networkid": self.network_id, "layer_id": layer_id, "has_weights": str(has_weights),
                      "counts": counts, "bins": bins}
            if self._weight_histograms and next(iter(self._weight_histograms))[0] != self.shadow.generation:
                self._weight_histograms.clear()
            self._weight_histograms[key] = answer
            return answer

    def _default_input(self) -> tuple[torch.Tensor, dict]:
        if self.dataset is not None and len(self.dataset):
            return self.pipeline(self.dataset.item(0)[0]), {"mode": 1, "imageID": 0}
        return self._zero_input(), {"mode": 0}

    def result(self) -> Result:
        """The current result (computed on first use)."""
        with self._lock:
            if self._result is not None:
                return self._result
        return self.compute()

    def peek(self) -> Result | None:
        """The current result if one was computed, without computing."""
        return self._result

    def refresh(self) -> Result:
        """Recompute the current input with the model's current weights."""
        return self.compute()

    def current_input(self) -> torch.Tensor:
        return self.result().input_tensor

    def __repr__(self) -> str:
        return f"<dvvr Network {self.network_id} {self.name!r}: {len(self.layers)} layers, input {self.input_size}>"
