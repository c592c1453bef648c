"""The answers for one input: computed once, read by dozens of requests.

A ``Result`` is immutable once built: a request takes the network's current
result once and answers wholly from it, so two inputs never mix inside one
answer.  PNG encoding of each layer runs once, on a thread pool, and is
shared by every request that asks for that layer.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Executor, Future

import torch

from ..errors import BadRequest, NotFound
from . import encode
from .layers import LayerSpec


def layer_tensor(value: torch.Tensor) -> torch.Tensor:
    """First batch item shaped [C, H, W] (feature map) or [C] (vector)."""
    item = value[0] if value.dim() >= 1 else value.reshape(1)
    if item.dim() == 0:
        return item.reshape(1)
    if item.dim() == 2:  # [C, L] sequences: a one-row map per channel
        return item.unsqueeze(1)
    if item.dim() > 3:
        return item.flatten(2)
    return item


def check_layer_id(layer_id: int, layers) -> None:
    if not 0 <= layer_id < len(layers):
        msg = f"layer id {layer_id} is out of range: this network has {len(layers)} layers (0..{len(layers) - 1})"
        raise NotFound(msg, field="layerid")


def data_type(tensor: torch.Tensor | None) -> str:
    if tensor is None:
        return "None"
    return "2D_feature_map" if tensor.dim() == 3 else "1D_vector"


def classification(output: torch.Tensor | None, class_names: list[str], softmax: bool | None):
    """Top-10 ``(names, confidences)`` of the model output, or empty lists.

    Classifiers ([N, K] scores): percent after softmax (or raw scores with
    ``softmax=False``).  Segmentation ([N, K, H, W]): the image-level share
    of each class, the per-pixel softmax averaged over the image, in percent.
    """
    if output is None or output.dim() not in (2, 4) or output.shape[1] < 2:
        return [], []
    scores = output[0].detach().float().cpu()
    if scores.dim() == 3:
        scores = torch.softmax(scores, dim=0).mean(dim=(1, 2)) * 100
    elif softmax is not False:
        already_probabilities = bool((scores >= 0).all()) and abs(float(scores.sum()) - 1.0) < 1e-3
        scores = scores * 100 if already_probabilities else torch.softmax(scores, 0) * 100
    top = torch.topk(scores, k=min(10, scores.numel()))
    names = [class_names[i] if i < len(class_names) else f"class {i}" for i in top.indices.tolist()]
    return names, [f"{v:.2f}" for v in top.values.tolist()]


def layer_answers(network_id: int, layer_id: int, tensor: torch.Tensor) -> tuple[bytes, bytes]:
    """``(activation JSON, activation histogram JSON)`` of one layer
    (``tensor`` shaped by ``layer_tensor``), as the bytes to send: encoded
    here on a worker, not on the IO loop."""
    pngs, zero_value, counts, bins = encode.encode_layer(tensor)
    answer = json.dumps({"tensors": pngs, "networkid": network_id, "layerID": layer_id,
                         "zeroValue": zero_value, "mode": "Activation"}).encode()
    histogram = json.dumps({"networkid": network_id, "layer_id": layer_id, "counts": counts, "bins": bins})
    return answer, histogram.encode()


class Result:
    """Answers for one input.  Each layer's activation PNGs and histogram are
    made by one task on the pool, serialised to JSON once, and shared by every
    request for that layer."""

    def __init__(self, *, input_id: int, network_id: int, layers: list[LayerSpec], activations: list,
                 output: torch.Tensor | None, class_names: list[str], softmax, weight_histogram,
                 input_tensor: torch.Tensor, description: dict, pool: Executor,
                 started: dict[int, Future] | None = None):
        self.input_id = input_id
        self.network_id = network_id
        self.layers = layers
        self.activations = [None if a is None else layer_tensor(a) for a in activations]
        self.output = output
        self.input_tensor = input_tensor
        self.description = description
        self._weight_histogram = weight_histogram  # layer id -> answer dict (cached by the network)
        self._pool = pool
        self._lock = threading.Lock()
        self._layer_answers: dict[int, Future] = dict(started or {})  # begun during the forward pass
        names, values = classification(output, class_names, softmax)
        self.classification = json.dumps({"networkid": network_id, "class_names": names,
                                          "confidence_values": values}, ensure_ascii=False)

    def _layer(self, layer_id: int, need: str = "any") -> torch.Tensor:
        check_layer_id(layer_id, self.layers)
        tensor = self.activations[layer_id]
        if tensor is None:
            msg = f"layer {layer_id} ({self.layers[layer_id].name!r}) is an info panel (data_type \"None\"): it has no {need}"
            raise BadRequest(msg, field="layerid")
        return tensor


    def layer_answers(self, layer_id: int, need: str = "activation") -> Future:
        """A future of ``(activation JSON, activation histogram JSON)`` bytes."""
        tensor = self._layer(layer_id, need)
        with self._lock:
            future = self._layer_answers.get(layer_id)
            if future is None:
                future = self._pool.submit(layer_answers, self.network_id, layer_id, tensor)
                self._layer_answers[layer_id] = future
            return future

    def weight_histogram(self, layer_id: int) -> dict:
        check_layer_id(layer_id, self.layers)
        return self._weight_histogram(layer_id)
