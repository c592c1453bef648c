"""The VR client's wire format, in one place: every JSON body of PROTOCOL.md,
and the client's ``ActivationImage`` body read into an engine input.

Why here and not in the engine: the engine is the Python-level view (tensors,
PIL images, PNG bytes, ``(name, confidence)`` pairs) shared by the notebook,
the explorer widget and this protocol.  The wire format is the VR client's
contract alone (base64 text, numbers sent as strings, ``"True"``/``"False"``,
mode numbers, field names in the client's spelling), so it lives beside the
routes that speak it.  Handlers pass engine objects in; bytes or dicts come out.

Answers that every request of a switch reads (a layer's activation and
histogram, the classification) are serialised once per result and shared.

No engine import at module level: ``dvvr serve`` imports this module before
it listens, and the base URL must answer before torch loads (the client gives
it 2 s; ``tests/test_cli.py`` checks).  The functions that turn engine objects
into bodies import what they need; by then the project has loaded it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import weakref
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ..bridge.limits import MAX_NESTING, parse_json_object  # noqa: F401 - MAX_NESTING: openapi.py's
from ..errors import BadRequest, NotFound

if TYPE_CHECKING:
    import torch

    from ..engine.encode import Histogram

#: The client's ``ActivationImage.mode`` numbers.
MODES = {0: "Unknown", 1: "DatasetImage", 2: "Activation", 3: "FeatureVisualization", 4: "NoiseImage"}
VIEW_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
ID_FIELDS = ("networkID", "datasetID", "noiseGeneratorID", "imageID", "layerID", "channelID")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dumps(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _b64_bytes(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def _tensors_answer(encoded: list[bytes], rest: dict) -> bytes:
    """``_dumps({"tensors": [base64 strings], **rest})``, the same bytes, joined
    directly: base64 needs no escaping, and json.dumps scanning megabytes of it
    cost more than the PNGs (a 512-channel layer's pictures: 52 MB).  One
    join: each concatenation of the whole would copy it again."""
    tail = b"]" + (b", " + _dumps(rest)[1:] if rest else b"}")
    if not encoded:
        return b'{"tensors": [' + tail
    parts = [b'{"tensors": ["']
    for item in encoded:
        parts += (item, b'", "')
    parts[-1] = b'"' + tail
    return b"".join(parts)


def _histogram_fields(histogram: Histogram | None) -> dict:
    """Counts and bin centres as strings, as the original server sent them."""
    if histogram is None:
        return {"counts": [], "bins": []}
    return {"counts": [str(c) for c in histogram.counts], "bins": [repr(c) for c in histogram.centres]}


# --- the client's start-up ---------------------------------------------------------
def root(session) -> dict:
    """``GET base_url``: answered at once, also while a project loads."""
    if session is None:
        return {"service": "dvvr", "status": "loading"}
    return {"service": "dvvr", "status": "ok", **counts(session), "networks": [n.name for n in session.networks],
            "cached_results": session.results.stats()["entries"]}


def counts(session) -> dict:
    return {"nnetworks": len(session.networks), "ndatasets": len(session.datasets),
            "nnoiseGenerators": len(session.noise_generators)}


def dataset_page(dataset) -> bytes:
    """``dataset/{d}/images``: the raw page images (original size) and labels."""
    return _dumps({"len": len(dataset), "class_names": list(dataset.class_names), "label_ids": dataset.labels(),
                   "tensors": [_b64(dataset.png(i)) for i in range(len(dataset))]})


def noise_image(image) -> dict:
    """``noiseimage/{g}``: a new noise image (the generator's current one)."""
    from ..engine import encode

    return {"tensor": _b64(encode.pil_png(image))}


def architecture(network) -> dict:
    """``network/{n}``: the tracked layers on the client's grid."""
    from ..engine.layers import FEATURE_MAP, INFO, VECTOR

    data_types = {FEATURE_MAP: "2D_feature_map", VECTOR: "1D_vector", INFO: "None"}
    layers = [{"pos": list(layer.pos), "layer_name": layer.name, "data_type": data_types[layer.kind],
               "size": [1, *layer.shape] if layer.kind != INFO else [0],
               "precursors": [list(p) for p in layer.precursors]} for layer in network.layers]
    shown = [layer.id for layer in network.layers if layer.kind != INFO]
    return {"architecture": layers, "class_names": network.class_names, "networkid": network.id,
            "layer_id_to_output_index": {str(layer_id): index for index, layer_id in enumerate(shown)}}


# --- one input's answers -------------------------------------------------------------
def activation(network, result, layer_id: int) -> Future:
    """A future of ``activation/layerid/{l}``: one grayscale PNG per channel."""
    network_id = network.id

    def build(images) -> bytes:
        return _tensors_answer([_b64_bytes(png) for png in images.pngs], {"networkid": network_id, "layerID": layer_id,
                       "zeroValue": images.zero_value, "mode": "Activation"})

    result.images_future(layer_id)  # fails now, with the client's words, for an info panel
    # base64 and joining: a fraction of the encoding, done right where the encoding ends
    return result.once(("wire.activation", network_id, layer_id), build, layer=layer_id, here=True)


def activation_histogram(network, result, layer_id: int) -> Future:
    """A future of ``activationhistogram/layerid/{l}``."""
    network_id = network.id

    def build(images) -> bytes:
        return _dumps({"networkid": network_id, "layer_id": layer_id, **_histogram_fields(images.histogram)})

    result.images_future(layer_id, "activation histogram")
    return result.once(("wire.histogram", network_id, layer_id), build, layer=layer_id, here=True)


def weight_histogram(network, layer_id: int) -> bytes:
    """``weighthistogram/layerid/{l}`` (``has_weights`` is the string "True"/"False")."""
    generation = network.shadow.generation
    histogram = network.weight_histogram(layer_id)  # may wait for a forward pass to let go of the weights
    body = _dumps({"networkid": network.id, "layer_id": layer_id, "has_weights": str(histogram is not None),
                   **_histogram_fields(histogram)})
    known = _weight_answers.setdefault(network, {})
    for old in [key for key in list(known) if key[0] != generation]:  # weights moved on: never asked again
        known.pop(old, None)
    known[(generation, layer_id, network.id)] = body
    return body


#: network -> {(weights generation, layer id, network id): ``weighthistogram`` answer}
_weight_answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def known_weight_histogram(network, layer_id: int, generation: int) -> bytes | None:
    """``weight_histogram``'s answer if it was made for the weights of
    ``generation``, else ``None``; waits for nothing (the IO loop answers it:
    a switch asks for every layer's, and a worker's round trip each cost more
    than the answer)."""
    known = _weight_answers.get(network)
    return None if known is None else known.get((generation, layer_id, network.id))


def classification(network, result) -> bytes:
    """``classificationresult``: top 10, confidences as text with two decimals."""
    network_id = network.id

    def build() -> bytes:
        top = result.top_classes(10)
        return _dumps({"networkid": network_id, "class_names": [name for name, _ in top],
                       "confidence_values": [f"{value:.2f}" for _, value in top]})

    return result.once(("wire.classification", network_id), build, here=True).result()


def result_key(result) -> str:
    """What names one result (an input with one version of the weights) to a client."""
    return str(result.id)


def atlas(network, result, layer_id: int) -> Future:
    """A future of ``atlas/layerid/{l}``: ``(PNG bytes, layout header)``, the
    layer's channel maps tiled into one grayscale picture (``engine/atlas.py``),
    pixels exactly those of ``activation/layerid/{l}``."""
    network_id, key = network.id, result_key(result)

    def build(images) -> tuple[bytes, str]:
        from ..engine import encode
        from ..engine.atlas import tile

        picture, grid = tile(images.pixels)
        header = {"channels": grid.channels, "cols": grid.cols, "rows": grid.rows, "tileWidth": grid.tile_width,
                  "tileHeight": grid.tile_height, "zeroValue": images.zero_value, "min": images.low,
                  "max": images.high, "result": key}
        return encode.png_bytes(picture), json.dumps(header, separators=(",", ":"))

    from ..engine.layers import INFO

    layer = network.layer(layer_id)
    if layer.kind == INFO:
        raise NotFound(f"layer {layer_id} ({layer.name!r}) is an info panel (data_type \"None\"): it has no atlas",
                       field="layerid")
    return result.once(("wire.atlas", network_id, layer_id), build, layer=layer_id)


def _input_kind(source) -> str:
    from ..engine.inputs import Blank, DatasetImage, FeatVisImage, NoiseImage

    return {DatasetImage: "dataset", NoiseImage: "noise", FeatVisImage: "featvis", Blank: "blank"}.get(
        type(source), "custom")


def current_input(session, network, result) -> Future:
    """A future of ``network/{n}/input``: what this view's input is, and its picture as shown in the frame."""
    from ..engine import encode
    from ..engine.inputs import DatasetImage

    source = result.input.source
    dataset = next((i for i, known in enumerate(session.datasets) if known is getattr(source, "dataset", None)), None)

    def build() -> dict:
        return {"networkid": network.id, "describe": result.input.describe(), "kind": _input_kind(source),
                "dataset": dataset, "index": source.index if isinstance(source, DatasetImage) else None,
                "result": result_key(result), "image": _b64(encode.pil_png(result.input.image))}

    return result.once(("wire.input", network.id), build)


def prepared(network, result, mode: int) -> dict:
    """``prepareforinput``'s answer (the client only reads the status)."""
    return {"networkid": network.id, "input_id": result.id, "mode": mode}


# --- feature visualization and export --------------------------------------------------
def feature_visualization(network, layer_id: int, images: torch.Tensor) -> bytes:
    """``featurevisualization/layerid/{l}``: one colour PNG per channel."""
    from ..engine import encode

    return _tensors_answer(encode.rgb_pngs(images, then=_b64_bytes),
                           {"networkid": network.id, "layerID": layer_id, "mode": "FeatureVisualization"})


def input_layer_images(network, layer_id: int) -> torch.Tensor:
    """The input layer has no feature visualization: the original answered one
    tiny black image per channel, which the client expects."""
    import torch

    return torch.zeros(network.layer(layer_id).channels, 3, 1, 1, dtype=torch.uint8)


def featvis_mode(network) -> dict:
    return {"networkid": network.id, "featvis_mode": network.featvis.mode}


def featvis_progress(network) -> dict:
    """``featurevisualization/progress`` (an extra route): each layer's latest job."""
    layers = {}
    for layer_id, job in sorted(network.featvis.jobs().items()):
        entry = {"done": job.done, "total": job.total, "state": job.state, "seconds": round(job.seconds, 1)}
        if job.error:
            entry["error"] = job.error
        layers[str(layer_id)] = entry
    return {"networkid": network.id, "mode": network.featvis.mode, "layers": layers}


def exported(network, layer_id: int, mode: int, path: str, files: int) -> dict:
    return {"networkid": network.id, "layerID": layer_id, "mode": mode, "files": files, "path": path}


# --- what the client sends -------------------------------------------------------------
PATH_ID = re.compile(r"[0-9]{1,9}")  # ASCII digits only: int() would also take "1_0", " 1", "٣"
NUMERIC_TEXT = re.compile(r"[ \t]*[+-]?[0-9]{1,10}[ \t]*")  # the C# client may send numbers as text
ID_RANGE = range(-(2**31), 2**31)  # a C# int


def parse_id(text: str, field: str) -> int:
    """An id in the URL path: 1 to 9 ASCII digits."""
    if not PATH_ID.fullmatch(text):
        raise BadRequest(f"{field} in the path must be an integer of ASCII digits (0, 1, 2, ...), got {text[:40]!r}",
                         field=field)
    return int(text)


def parse_view(text: str) -> str:
    """A headset's name in ``h/<name>/``: letters, digits, ``.``, ``_``, ``-``."""
    if not VIEW_NAME.fullmatch(text) or text in (".", ".."):  # dot segments: clients may fold them away
        raise BadRequest(f"a headset name has 1 to 64 letters, digits, '.', '_' or '-' (not '.' or '..'); "
                         f"got {text[:80]!r}",
                         field="headset")
    return text


def _as_int(body: dict, field: str, required: bool = False) -> int:
    if field not in body or body[field] is None:
        if required:
            raise BadRequest(f"field {field!r} is required", field=field)
        return 0
    value = body[field]
    if isinstance(value, bool):
        raise BadRequest(f"field {field!r} must be an integer, got a boolean", field=field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and NUMERIC_TEXT.fullmatch(value):
        value = int(value)
    if not isinstance(value, int):
        raise BadRequest(f"field {field!r} must be an integer, got {json.dumps(value)[:80]}", field=field)
    if value not in ID_RANGE:
        raise BadRequest(f"field {field!r} is out of range (a 32-bit integer), got {json.dumps(body[field])[:40]}",
                         field=field)
    return value


def parse_activation_image(raw: bytes | str) -> dict:
    """The client's ``ActivationImage`` body: ``{field: int}`` of the ids and
    ``mode``.  The C# struct sends 0 for fields the mode does not need;
    ``mode`` is required, missing ids count as 0, the rest of the struct
    (``className``, ``isRGB``, ``zeroValue``, ``nDim``, ``tex``) is read by
    no route."""
    body = parse_json_object(raw, "a JSON object (an ActivationImage)")
    choice = {field: _as_int(body, field) for field in ID_FIELDS}
    choice["mode"] = _as_int(body, "mode", required=True)
    return choice


def input_source(session, choice: dict):
    """The engine source an ``ActivationImage`` asks for (mode 1, 3, 4 or 0)."""
    from ..engine.inputs import Blank, DatasetImage, FeatVisImage, NoiseImage

    mode = choice["mode"]
    if mode == 1:
        dataset = session.dataset(choice["datasetID"])
        dataset.item(choice["imageID"])  # out of range: the client's words, now
        return DatasetImage(dataset, choice["imageID"])
    if mode == 3:
        source = session.network(choice["networkID"], field="networkID")
        source.layer(choice["layerID"])
        return FeatVisImage(source, choice["layerID"], choice["channelID"])
    if mode == 4:
        return NoiseImage(session.noise_generator(choice["noiseGeneratorID"]))
    if mode == 2:
        raise BadRequest("mode 2 (Activation) cannot be an input: choose a dataset image (1), "
                         "a feature visualization (3) or noise (4)", field="mode")
    if mode == 0:
        return Blank()
    raise BadRequest(f"mode must be one of {sorted(MODES)}, got {mode}", field="mode")


def export_mode(choice: dict) -> int:
    """Export writes activations (mode 2) or feature visualizations (mode 3)."""
    if choice["mode"] not in (2, 3):
        raise BadRequest(f"export needs mode 2 (Activation) or 3 (FeatureVisualization), got {choice['mode']}",
                         field="mode")
    return choice["mode"]
