"""What a network shows for one input: computed once, read by many.

A ``Result`` is immutable once built: a reader takes the network's current
result once and reads wholly from it, so two inputs never mix inside one
answer.  Each layer's channel images (scaled pixels, PNGs, histogram) are
made once, on the session's worker pool, starting while the forward pass
still runs, and shared by every reader (the VR client, the widget, code).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import BadRequest, Unavailable
from . import encode
from .encode import Histogram
from .inputs import Input
from .layers import INFO, Layer, find_layer

_ids = itertools.count(1)


@dataclass(frozen=True, eq=False)
class ChannelImages:
    """One layer as pictures: every channel scaled with the layer's one min
    and max (``low``, ``high``) to uint8 ``pixels`` [C, H, W] ([C, 1, 1] for
    a vector), ``zero_value`` where 0.0 lands on that scale, one grayscale
    PNG per channel, and the layer's 16-bin histogram."""

    pixels: np.ndarray = field(repr=False)
    zero_value: int
    low: float
    high: float
    histogram: Histogram = field(repr=False)
    pngs: tuple[bytes, ...] = field(repr=False)


def channel_images(activation: torch.Tensor) -> ChannelImages:
    """Encode one layer ([C, H, W] or [C]) in one pass over its values."""
    data = encode.layer_array(activation)
    pixels, zero_value, low, high = encode.scale_layer(data)
    histogram = encode.layer_histogram(data, low, high)
    return ChannelImages(pixels, zero_value, low, high, histogram, tuple(encode.gray_pngs(pixels)))


class LayerEncoder:
    """Encodes layers (``channel_images``) on ``pool`` as a forward pass
    records them, at most ``lanes`` at once until ``open_up()`` (``None``:
    no limit); ``futures`` maps each layer's index to its images' future.

    On the CPU the pass itself needs a core: with an encoder on every core it
    had taken about twice as long on the 2-core machine, and the switch's
    answers all wait for it.  One lane keeps up with it there (a layer's
    encoding is a fraction of the pass that records it); once the pass is
    over, whatever waits starts at once."""

    def __init__(self, pool: Executor, lanes: int | None = None):
        self._pool = pool
        self._lanes = lanes
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Future, torch.Tensor]] = deque()
        self._busy = 0
        self.futures: dict[int, Future] = {}

    def add(self, index: int, activation: torch.Tensor) -> None:
        future = self.futures[index] = Future()
        with self._lock:
            if self._lanes is not None and self._busy >= self._lanes:
                self._waiting.append((future, activation))
                return
            self._busy += 1
        self._start(future, activation)

    def _start(self, future: Future, activation: torch.Tensor) -> None:
        try:
            lane = self._pool.submit(self._run, future, activation)
        except RuntimeError:  # the pool was shut down
            self._give_up(future)
            return
        def cancelled(lane: Future) -> None:
            if lane.cancelled():
                self._give_up(future)

        lane.add_done_callback(cancelled)

    def _give_up(self, future: Future) -> None:
        """The pool shut down before a lane ran (a stopping server cancels
        what it had queued): its layer and every waiting one fail, rather
        than leaving futures that nobody settles to whoever waits for them."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for lost in [future, *(lost for lost, _ in waiting)]:
            _settle(lost, _stopping)

    def _run(self, future: Future, activation: torch.Tensor) -> None:
        while True:  # then the next waiting layer, in this lane
            _settle(future, functools.partial(channel_images, activation))
            with self._lock:
                if not self._waiting:
                    self._busy -= 1
                    return
                future, activation = self._waiting.popleft()

    def open_up(self) -> None:
        """No limit from now on: every waiting layer starts."""
        with self._lock:
            self._lanes = None
            waiting, self._waiting = list(self._waiting), deque()
            self._busy += len(waiting)
        for future, activation in waiting:
            self._start(future, activation)


def _stopping() -> ChannelImages:
    raise Unavailable("the server is stopping: its workers are gone")


def top_classes(output: torch.Tensor | None, class_names: Sequence[str], softmax: bool | None,
                k: int = 10) -> list[tuple[str, float]]:
    """Best ``k`` ``(class name, confidence)`` of a model output, best first.

    Classifiers ([N, K] scores): percent after softmax (raw scores with
    ``softmax=False``; outputs that already are probabilities are not
    softmaxed again).  Segmentation ([N, K, H, W]): each class's share of the
    image, the per-pixel softmax averaged over the image, in percent.
    Anything else is not a classifier: ``[]``.
    """
    if output is None or output.dim() not in (2, 4) or output.shape[1] < 2:
        return []
    scores = output[0].detach().float().cpu()
    if scores.dim() == 3:
        scores = torch.softmax(scores, dim=0).mean(dim=(1, 2)) * 100
    elif softmax is not False:
        already_probabilities = bool((scores >= 0).all()) and abs(float(scores.sum()) - 1.0) < 1e-3
        scores = scores * 100 if already_probabilities else torch.softmax(scores, 0) * 100
    top = torch.topk(scores, k=min(k, scores.numel()))
    names = [class_names[i] if i < len(class_names) else f"class {i}" for i in top.indices.tolist()]
    return list(zip(names, top.values.tolist(), strict=True))


class Result:
    """What a network shows for one input, with the weights of
    ``weights_version``.  Read it with ``activation``, ``channel_images``,
    ``histogram`` and ``top_classes``; layers are named by id, name or ``Layer``."""

    def __init__(self, *, input: Input, layers: Sequence[Layer], activations: list, output: torch.Tensor | None,
                 class_names: Sequence[str], softmax: bool | None, weights_version: int, pool: Executor,
                 started: dict[int, Future] | None = None):
        self.id = next(_ids)
        self.input = input
        self.layers = tuple(layers)
        self.output = output
        self.weights_version = weights_version
        self._activations = activations
        self._classes = top_classes(output, class_names, softmax)
        self._pool = pool
        self._lock = threading.Lock()
        self._images: dict[int, Future] = dict(started or {})  # begun during the forward pass
        self._answers: dict[Hashable, Future] = {}  # see ``once``
        # What keeping this result costs, roughly: the float activations, and
        # per value a uint8 pixel, its PNG share and its base64 answer (~2.7 bytes).
        values = sum(a.numel() for a in activations if a is not None)
        self.nbytes = int(values * 6.7) + (output.numel() * 4 if output is not None else 0)

    def _layer(self, ref, need: str) -> Layer:
        layer = find_layer(self.layers, ref)
        if layer.kind == INFO:
            msg = f"layer {layer.id} ({layer.name!r}) is an info panel (data_type \"None\"): it has no {need}"
            raise BadRequest(msg, field="layerid")
        return layer

    def activation(self, layer) -> torch.Tensor:
        """The layer's activation for this input: [C, H, W] or [C] (CPU)."""
        return self._activations[self._layer(layer, "activation").id]

    def images_future(self, layer, need: str = "activation") -> Future:
        """A future of the layer's ``ChannelImages`` (never blocks)."""
        layer = self._layer(layer, need)
        with self._lock:
            future = self._images.get(layer.id)
            if future is None:
                future = self._pool.submit(channel_images, self._activations[layer.id])
                self._images[layer.id] = future
        return future

    def channel_images(self, layer) -> ChannelImages:
        """The layer as pictures (see ``ChannelImages``); waits for its encoding."""
        return self.images_future(layer).result()

    def histogram(self, layer) -> Histogram:
        """16-bin histogram of the layer's activation."""
        return self.images_future(layer, "activation histogram").result().histogram

    def top_classes(self, k: int = 10) -> list[tuple[str, float]]:
        """Best ``k`` ``(class name, confidence)``, best first (see ``top_classes``)."""
        return self._classes[:k]

    def once(self, key: Hashable, build: Callable, *, layer=None, here: bool = False) -> Future:
        """A future of the answer ``key`` names, built once for this result
        and shared by every reader (the protocol keeps its serialised answers here).

        ``build()`` runs on the pool; with ``layer``, ``build(channel images of
        layer)`` runs there once those are encoded; ``here=True`` runs
        ``build()`` in the calling thread (cheap answers: done on return), and
        with ``layer`` too, ``build(images)`` runs in the thread that finishes
        encoding the layer, or in the calling thread if it is encoded already:
        no second trip through the pool (the cold switch paid a thread's
        wake-up per answer for it)."""
        with self._lock:
            future = self._answers.get(key)
            if future is not None:
                return future
            if layer is None and not here:
                future = self._answers[key] = self._pool.submit(build)
                return future
            future = self._answers[key] = Future()
        if layer is None:
            _settle(future, build)
        elif here:
            self.images_future(layer).add_done_callback(lambda images: _settle(future, lambda: build(images.result())))
        else:
            self._after_images(layer, future, build)
        return future

    def _after_images(self, layer, future: Future, build: Callable[[ChannelImages], object]) -> None:
        def schedule(images: Future) -> None:
            try:
                self._pool.submit(_settle, future, lambda: build(images.result()))
            except RuntimeError:  # the pool was shut down: finish here
                _settle(future, lambda: build(images.result()))

        self.images_future(layer).add_done_callback(schedule)

    def __repr__(self) -> str:
        return f"<dvvr Result {self.id}: {self.input.describe()}, weights v{self.weights_version}>"


def _settle(future: Future, build: Callable[[], object]) -> None:
    """``future`` gets ``build()``'s value or exception (whoever waits gets either)."""
    try:
        future.set_result(build())
    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
        future.set_exception(exc)
