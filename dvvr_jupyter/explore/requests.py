"""The explorer's requests, answered from engine objects.

One dispatcher for both ways a click reaches the kernel: HTTP through the
Jupyter server's authenticated route to the kernel's own server thread
(answered while a cell runs), or the widget's comm (the fallback where no
Jupyter server extension runs: a plain kernel, VS Code).  Both hand a request
to ``ExplorerRequests.submit``, which answers it on the dispatcher's own
threads.  Paths carry every parameter (no query strings: the forwarder keeps
paths only).

Channel pages travel as binary: an *envelope* of a 4-byte little-endian
length, that many bytes of JSON metadata, then the payload (uint8 pixels
[count, H, W] on the layer's one scale; the browser colour-maps them at the
layer's zero value, as the VR client does).  Why raw pixels and not PNGs:
``benchmarks/explorer_grid.py`` measured it (README, "Explore in the notebook").

Errors are ``DvvrError``s, answered as ``to_json()`` bodies with their 4xx
status; nothing a browser sends can make a 500.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

import numpy as np

from ..bridge.limits import parse_json_object
from ..engine.events import ORIGIN_WIDGET
from ..engine.layers import INFO, VECTOR, find_layer
from ..errors import BadRequest, DvvrError, NotFound, error_answer
from .module_picker import check_track, module_tree, tracking_name

log = logging.getLogger("dvvr.explorer")

#: Channels a page holds at most, and the pixels it aims for (a page of
#: 112x112 maps is ~20 channels, of 7x7 maps 256).
MAX_PAGE = 256
PAGE_PIXELS = 1 << 18
#: Rows of a vector layer (bars) on one page: a screenful, readable
VECTOR_PAGE = 20
THUMB_SIZE = 96
TOP_K = 10
INPUT_KINDS = ("dataset", "noise", "featvis", "blank")


@dataclass(frozen=True)
class Reply:
    """An answer: HTTP status, content type and body bytes."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, body, status: int = 200) -> Reply:
        return cls(status, "application/json; charset=UTF-8", json.dumps(body).encode())

    @classmethod
    def error(cls, exc: BaseException) -> Reply:
        """The error answer every route gives (``errors.error_answer``); not a
        ``DvvrError``: a bug, 500."""
        status, headers, body = error_answer(exc, failure="the explorer failed on this request (see the kernel log)")
        return cls(status, headers["Content-Type"], body)


def envelope(meta: dict, payload: bytes = b"") -> bytes:
    """``<u32 length><JSON meta><payload>``: metadata and binary in one answer."""
    head = json.dumps(meta).encode()
    return struct.pack("<I", len(head)) + head + payload


def page_size(height: int, width: int, channels: int | None = None) -> int:
    """How many channels of ``height`` x ``width`` one page holds: about
    ``PAGE_PIXELS``, pages of even size (32 channels are one page of 32 or
    two of 16, never 20 + 12)."""
    size = max(1, min(MAX_PAGE, PAGE_PIXELS // max(1, height * width)))
    if channels is None or channels <= size:
        return size
    if channels * 5 <= size * 8:  # up to 60 % more than a page: one page
        return channels
    pages = -(-channels // size)
    return -(-channels // pages)


def _is_probability(values: np.ndarray) -> bool:
    """A softmax's output (non-negative, summing to 1): shown in percent."""
    return values.size > 1 and bool((values >= 0).all()) and abs(float(values.sum()) - 1.0) < 1e-3


def _int(text: str, field: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text):  # ASCII only: "\d" would read Arabic-Indic or fullwidth digits
        raise BadRequest(f"{field} must be a non-negative integer, got {text!r}", field=field)
    return int(text)


def _body_int(body: dict, field: str, default: int | None = None) -> int:
    value = body.get(field, default)
    if value is None:
        raise BadRequest(f"{field} is required", field=field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{field} must be an integer, got {value!r}", field=field)
    return value


def _histogram(histogram) -> dict | None:
    if histogram is None:
        return None
    return {"counts": list(histogram.counts), "centres": list(histogram.centres)}


def layer_json(layer) -> dict:
    return {"id": layer.id, "name": layer.name, "kind": layer.kind, "shape": list(layer.shape),
            "pos": list(layer.pos), "precursors": [list(p) for p in layer.precursors], "module": layer.module,
            "weight_module": layer.weight_module, "unit": layer.unit, "shows_class_names": layer.shows_class_names}


def input_json(session, input) -> dict:
    """What the widget needs to highlight the current input."""
    from ..engine.inputs import Blank, DatasetImage, FeatVisImage, NoiseImage

    source = input.source
    found = {"describe": input.describe(), "kind": "custom"}
    if isinstance(source, DatasetImage):
        datasets = session.datasets
        index = next((i for i, d in enumerate(datasets) if d is source.dataset), None)
        found.update(kind="dataset", dataset=index, index=source.index)
    elif isinstance(source, NoiseImage):
        found.update(kind="noise", generator=next(
            (i for i, g in enumerate(session.noise_generators) if g is source.generator), None))
    elif isinstance(source, FeatVisImage):
        found.update(kind="featvis", layer=source.layer, channel=source.channel)
    elif isinstance(source, Blank):
        found.update(kind="blank")
    return found


def _run_now(fn: Callable[[], None]) -> str:
    fn()
    return "done"


class ExplorerRequests:
    """The requests of one session's explorer.

    ``connection()`` gives the VR URLs and clients (default: none known);
    ``schedule(fn)`` runs a re-track where no user code can run a forward
    pass at the same time and says ``"done"`` or ``"queued"`` (default: at
    once; the kernel passes its main thread, between cells).  ``notices``
    are called with problems that happen after the answer went out (a
    scheduled re-track that failed).
    """

    def __init__(self, session, *, connection: Callable[[], dict] | None = None,
                 schedule: Callable[[Callable[[], None]], str] | None = None):
        self.session = session
        self._connection = connection or dict
        self._schedule = schedule or _run_now
        self.notices: list[Callable[[dict], None]] = []
        # Requests may wait on the session's encode pool (a layer's images):
        # they run on threads of their own so they can never starve it.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dvvr-explorer")
        self._thumbs: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern, Callable]] = [
            ("GET", re.compile(r"ping"), self.ping),
            ("GET", re.compile(r"state/(\w+)"), self.get_state),
            ("GET", re.compile(r"connection"), lambda: Reply.json(self._connection())),
            ("GET", re.compile(r"network/(\w+)/layer/(\w+)/channels/(\w+)/(\w+)/(raw|png)"), self.channels),
            ("GET", re.compile(r"network/(\w+)/layer/(\w+)/channel/(\w+)"), self.channel),
            ("GET", re.compile(r"network/(\w+)/input\.png"), self.input_png),
            ("GET", re.compile(r"dataset/(\w+)/thumb/(\w+)\.png"), self.thumb),
            ("POST", re.compile(r"network/(\w+)/input"), self.set_input),
            ("GET", re.compile(r"network/(\w+)/featvis/(\w+)/channels/(\w+)/(\w+)"), self.featvis_channels),
            ("POST", re.compile(r"network/(\w+)/featvis/(\w+)/(start|cancel)"), self.featvis_action),
            ("GET", re.compile(r"network/(\w+)/modules"), self.modules),
            ("POST", re.compile(r"network/(\w+)/track"), self.track),
        ]

    def submit(self, method: str, path: str, body: bytes = b"") -> Future:
        """A future of ``handle(method, path, body)``, answered off the
        caller's thread (the kernel's server loop, or its shell for the comm)."""
        return self._pool.submit(self.handle, method, path, body)

    # --- dispatch ------------------------------------------------------------------
    def handle(self, method: str, path: str, body: bytes = b"") -> Reply:
        """Answer one request; never raises (errors are 4xx JSON replies)."""
        try:
            for verb, pattern, route in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                if verb != method:
                    raise BadRequest(f"{path} takes {verb}, not {method}")
                args = list(match.groups())
                if verb == "POST":
                    args.append(self._json_body(body))
                return route(*args)
            raise NotFound(f"no such explorer route: {method} {path}")
        except DvvrError as exc:
            return Reply.error(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: logged, answered as JSON
            log.exception("explorer request %s %s failed", method, path)
            return Reply.error(exc)

    @staticmethod
    def _json_body(body: bytes) -> dict:
        return parse_json_object(body or b"{}")  # the protocol's one body check

    def _network(self, text: str):
        return self.session.network(_int(text, "network"), field="network")

    def _layer(self, network, text: str):
        return network.layer(_int(text, "layer"))

    # --- state ---------------------------------------------------------------------
    def ping(self) -> Reply:
        return Reply.json({"service": "dvvr-explorer", "networks": len(self.session.networks)})

    def get_state(self, network: str) -> Reply:
        return Reply.json(self.state(self._network(network)))

    def state(self, network, result=None) -> dict:
        """Everything the widget shows that is not an image: layers, the
        current input and its top classes, the dataset page, feature
        visualization jobs.  ``result``: the one to describe (default: the
        current one, computed if there is none yet)."""
        session = self.session
        result = result or network.peek() or network.result()
        dataset = network.dataset
        jobs = network.featvis.jobs()
        return {
            "networks": [{"id": n.id, "name": n.name} for n in session.networks],
            "network": network.id,
            "name": network.name,
            "layers": [layer_json(layer) for layer in result.layers],
            "tracking": tracking_name(network.options.track),
            "input": input_json(session, result.input),
            "result": {"id": result.id, "weights": result.weights_version,
                       # percent after a softmax (top_classes), else the model's raw scores
                       "top_unit": "score" if network.softmax is False else "%",
                       "top": [[name, round(value, 2)] for name, value in result.top_classes(TOP_K)]},
            "dataset": None if dataset is None else {
                "id": next((i for i, d in enumerate(session.datasets) if d is dataset), None),
                "name": dataset.name, "len": len(dataset),
                "labels": [dataset.class_names[label] if 0 <= label < len(dataset.class_names) else str(label)
                           for label in dataset.labels()]},
            "noise": list(range(len(session.noise_generators))),
            "featvis": {str(layer): _job_json(job) for layer, job in jobs.items()},
            "featvis_stored": [layer.id for layer in result.layers
                               if layer.kind != INFO and network.featvis.has_stored(layer)],
            # layers with pictures of any weights (older ones shown marked stale): asked for, others not
            "featvis_any": sorted(network.featvis.layers_with_pictures()),
        }

    # --- images --------------------------------------------------------------------
    def channels(self, network: str, layer: str, start: str, count: str, fmt: str) -> Reply:
        """A page of a layer's channels for the current input: uint8 pixels
        (``raw``) or one grayscale PNG of the page's maps stacked (``png``)."""
        network = self._network(network)
        result = network.peek() or network.result()
        layer = find_layer(result.layers, _int(layer, "layer"))
        images = result.channel_images(layer)  # waits for its encoding (begun during the forward pass)
        pixels = images.pixels  # [C, H, W]
        channels, height, width = pixels.shape
        size = VECTOR_PAGE if layer.kind == VECTOR else page_size(height, width, channels)
        first = min(_int(start, "start"), channels)
        last = min(channels, first + max(1, min(_int(count, "count"), size)))
        meta = {"result": result.id, "layer": layer.id, "kind": layer.kind, "shape": [channels, height, width],
                "start": first, "count": last - first, "page": size,
                "zero": images.zero_value, "low": images.low, "high": images.high, "format": fmt,
                "histogram": _histogram(images.histogram),
                "weight_histogram": _histogram(network.weight_histogram(layer))}
        if layer.kind == VECTOR:
            # long vectors read best value first: the page is of the channels sorted by value
            values = result.activation(layer).float().numpy().reshape(-1)
            order = np.argsort(-values, kind="stable")[first:last]
            page = np.ascontiguousarray(pixels.reshape(channels, -1)[order])
            unit = "%" if _is_probability(values) else ""
            scale = 100.0 if unit else 1.0
            meta.update(order="value", channels=order.tolist(), unit=unit,
                        values=[round(float(values[i]) * scale, 5) for i in order],
                        low=images.low * scale, high=images.high * scale)
            if layer.shows_class_names:
                names = network.class_names
                meta["names"] = [names[i] if i < len(names) else f"class {i}" for i in order.tolist()]
        else:
            page = np.ascontiguousarray(pixels[first:last])
        if fmt == "png" and page.size:
            from ..engine.encode import png_bytes

            payload = png_bytes(page.reshape(-1, width))
        else:
            payload = page.tobytes()
        return Reply(200, "application/octet-stream", envelope(meta, payload))

    def channel(self, network: str, layer: str, channel: str) -> Reply:
        """One channel's values for the inspector: float32 [H, W] and its statistics."""
        network = self._network(network)
        result = network.peek() or network.result()
        layer = find_layer(result.layers, _int(layer, "layer"))
        if layer.kind == INFO:
            raise BadRequest(f"layer {layer.id} ({layer.name!r}) is an info panel: it has no channels", field="layer")
        data = result.activation(layer).float()
        data = data.reshape(data.shape[0], -1, data.shape[-1]) if data.dim() >= 2 else data.reshape(-1, 1, 1)
        index = _int(channel, "channel")
        if index >= data.shape[0]:
            raise NotFound(f"channel {index} is out of range: layer {layer.id} has {data.shape[0]} channels",
                           field="channel")
        values = np.ascontiguousarray(data[index].numpy(), dtype="<f4")
        images = result.channel_images(layer)
        peak = np.unravel_index(int(np.argmax(values)), values.shape)
        meta = {"result": result.id, "layer": layer.id, "channel": index, "shape": list(values.shape),
                "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
                "std": float(values.std()), "zeros": float((values == 0).mean()),
                "argmax": [int(peak[0]), int(peak[1])],
                "layer_low": images.low, "layer_high": images.high, "zero": images.zero_value}
        return Reply(200, "application/octet-stream", envelope(meta, values.tobytes()))

    def input_png(self, network: str) -> Reply:
        network = self._network(network)
        image = (network.peek() or network.result()).input.image.copy()
        image.thumbnail((THUMB_SIZE * 2, THUMB_SIZE * 2))
        return Reply(200, "image/png", _png(image))

    def thumb(self, dataset: str, index: str) -> Reply:
        dataset_id, image_id = _int(dataset, "dataset"), _int(index, "index")
        data = self.session.dataset(dataset_id, field="dataset")
        key = (id(data), image_id)
        with self._lock:
            cached = self._thumbs.get(key)
        if cached is None:
            image = data.item(image_id)[0].copy()
            image.thumbnail((THUMB_SIZE, THUMB_SIZE))
            cached = _png(image)
            with self._lock:
                self._thumbs[key] = cached
        return Reply(200, "image/png", cached)

    # --- input ---------------------------------------------------------------------
    def set_input(self, network: str, body: dict) -> Reply:
        """``{"kind": "dataset", "index": i}`` (the network's dataset, or
        ``"dataset": d``), ``{"kind": "noise", "generator": g}`` (a new noise
        image), ``{"kind": "featvis", "layer": l, "channel": c}``, ``{"kind": "blank"}``."""
        from ..engine.inputs import Blank, DatasetImage, FeatVisImage, NoiseImage

        network = self._network(network)
        kind = body.get("kind")
        if kind not in INPUT_KINDS:
            raise BadRequest(f"kind must be one of {list(INPUT_KINDS)}, got {kind!r}", field="kind")
        if kind == "dataset":
            if "dataset" in body:
                dataset = self.session.dataset(_body_int(body, "dataset"), field="dataset")
            elif network.dataset is not None:
                dataset = network.dataset
            else:
                raise BadRequest(f"network {network.name!r} has no dataset: name one with \"dataset\"",
                                 field="dataset")
            index = _body_int(body, "index")
            dataset.item(index)  # 404 naming the range when out of it
            source = DatasetImage(dataset, index)
        elif kind == "noise":
            generator = self.session.noise_generator(_body_int(body, "generator", 0), field="generator")
            generator.generate()
            source = NoiseImage(generator)
        elif kind == "featvis":
            layer = network.layer(_body_int(body, "layer"))
            network.featvis.stored_channel(layer, _body_int(body, "channel"))  # 4xx unless it exists
            source = FeatVisImage(network, layer.id, body["channel"])
        else:
            source = Blank()
        result = network.set_input(source, origin=ORIGIN_WIDGET)
        return Reply.json(self.state(network, result))

    # --- feature visualization ------------------------------------------------------
    def featvis_action(self, network: str, layer: str, action: str, body: dict) -> Reply:
        network = self._network(network)
        layer = self._layer(network, layer)
        if action == "start":
            if not body.get("fresh", False) and network.featvis.has_stored(layer):
                job = network.featvis.job(layer)  # the pictures of these weights exist: show them
            else:
                job = network.featvis.start(layer)
        else:
            network.featvis.cancel(layer)
            job = network.featvis.job(layer)
        return Reply.json({"layer": layer.id, "job": None if job is None else _job_json(job)})

    def featvis_channels(self, network: str, layer: str, start: str, count: str) -> Reply:
        """A page of a layer's stored feature visualizations: RGB uint8 [count, H, W, 3]."""
        network = self._network(network)
        layer = self._layer(network, layer)
        featvis = network.featvis
        now = network.shadow.generation
        meta = {"layer": layer.id, "weights": now, "now": now, "stale": False, "partial": False}
        stored = featvis.stored(layer)
        job = featvis.job(layer)
        if stored is None and job is not None and not job.finished and job.partial is not None:
            # a job runs: the batches finished so far, shown before the rest
            stored = job.partial
            meta.update(partial=True, weights=job.weights_version)
        elif stored is None:
            older = featvis.older(layer)
            if older is None:
                msg = f"layer {layer.id} ({layer.name!r}) has no stored feature visualization yet: start one"
                raise NotFound(msg, field="layer")
            # pictures of weights the model has left behind: shown, marked as such
            stored, version = older
            meta.update(stale=True, weights=version)
        channels, _, height, width = stored.shape
        first = min(_int(start, "start"), channels)
        last = min(channels, first + max(1, min(_int(count, "count"), page_size(height, width) * 4)))
        page = np.ascontiguousarray(stored[first:last].permute(0, 2, 3, 1).numpy())
        meta.update(shape=[channels, height, width], start=first, count=last - first)
        if meta["partial"]:
            meta["ready"] = job.ready[first:last]
        return Reply(200, "application/octet-stream", envelope(meta, page.tobytes()))

    # --- tracked modules ------------------------------------------------------------
    def modules(self, network: str) -> Reply:
        network = self._network(network)
        return Reply.json(module_tree(network))

    def track(self, network: str, body: dict) -> Reply:
        """``{"track": "auto" | "all" | [module names]}``: re-track the network
        (same id) where it is safe; the answer says whether it is done or
        waits for the running cell to end."""
        network = self._network(network)
        track = check_track(network, body.get("track"))
        notices = self.notices

        def retrack():
            try:
                network.retrack(track)
            except (ValueError, TypeError) as exc:
                for notice in list(notices):
                    notice({"network": network.id, "message": f"tracking failed: {exc}"})

        state = self._schedule(retrack)
        message = ("re-tracked: the VR client sees the new layers when it next asks for the architecture"
                   if state == "done" else
                   "re-tracking when the running cell ends (tracking traces the model on the kernel's main "
                   "thread); the VR client sees the new layers when it next asks")
        return Reply.json({"state": state, "message": message}, 200 if state == "done" else 202)


def _job_json(job) -> dict:
    eta = job.eta_s
    return {"state": job.state, "done": job.done, "total": job.total, "error": job.error,
            "fraction": round(job.fraction, 4), "seconds": round(job.seconds, 1),
            "eta_s": None if eta is None else round(eta, 1), "weights": job.weights_version}


job_json = _job_json


def _png(image) -> bytes:
    out = BytesIO()
    image.convert("RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()
