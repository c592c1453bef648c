"""The VR protocol as an OpenAPI 3.1 document, served at ``openapi.json``
under the base URL (standalone and on the VR path through Jupyter).

Paths are relative to the base URL (``servers: [{"url": "."}]``), so one
document fits every server: ``http://127.0.0.1:5570/``, a token's
``/<token>/`` and ``{base_url}dvvr/vr/<token>/``.  Every route is listed
twice, as the shared view and under ``h/{headset}/`` (a headset's own
view).  The schemas are plain JSON Schema (2020-12, as OpenAPI 3.1 has it);
tests validate real answers against them and fuzz the server from them.
"""

from __future__ import annotations

import copy
from functools import lru_cache

from .. import __version__
from ..bridge.limits import MAX_BODY_BYTES
from .wire import MAX_NESTING, MODES

REF = "#/components/schemas/"


def _ref(name: str) -> dict:
    return {"$ref": REF + name}


def _strings() -> dict:
    return {"type": "array", "items": {"type": "string"}}


def _obj(properties: dict, required: list | None = None, extra: bool = False) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties) if required is None else required}
    if not extra:
        schema["additionalProperties"] = False
    return schema


INT = {"type": "integer"}
PNG = {"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png"}
NUMBER_TEXT = {"type": "string", "pattern": r"^-?[0-9.eE+-]+$|^nan$|^inf$|^-inf$"}
POS = {"type": "array", "items": INT, "minItems": 2, "maxItems": 2}
# An id in a body, as the server reads it (wire._as_int): a 32-bit integer, an integral number, the text of
# one in ASCII digits (the C# client may send numbers as text), or null (0).
_INT32_TEXT = (r"^[ \t]*[+-]?(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
               r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])[ \t]*$")
BODY_ID = {"anyOf": [{"type": "number", "multipleOf": 1, "minimum": -(2**31), "maximum": 2**31 - 1},
                     {"type": "string", "pattern": _INT32_TEXT}, {"type": "null"}]}

SCHEMAS = {
    "Error": _obj({
        "error": {"type": "string", "description": "the kind of error (DvvrError subclass or HTTP reason)"},
        "message": {"type": "string", "description": "what is wrong, in words a user can act on"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "field": {"type": "string", "description": "the path parameter or body field at fault"},
    }, required=["error", "message", "status"]),
    "Root": _obj({
        "service": {"const": "dvvr"},
        "status": {"enum": ["ok", "loading"]},
        "nnetworks": INT, "ndatasets": INT, "nnoiseGenerators": INT,
        "networks": _strings(),
        "cached_results": INT,
        "precompute": {"enum": ["settled", "working"]},
    }, required=["service", "status"]),
    "Counts": _obj({"nnetworks": INT, "ndatasets": INT, "nnoiseGenerators": INT}),
    "Layer": _obj({
        "pos": POS,
        "layer_name": {"type": "string"},
        "data_type": {"enum": ["2D_feature_map", "1D_vector", "None"]},
        "size": {"type": "array", "items": INT, "minItems": 1},
        "precursors": {"type": "array", "items": POS},
    }),
    "Architecture": _obj({
        "architecture": {"type": "array", "items": _ref("Layer")},
        "class_names": _strings(),
        "networkid": INT,
        "layer_id_to_output_index": {"type": "object", "additionalProperties": INT},
    }),
    "FeatVisMode": _obj({"networkid": INT, "featvis_mode": {"enum": ["generate", "load"]}}),
    "WeightHistogram": _obj({
        "networkid": INT, "layer_id": INT, "has_weights": {"enum": ["True", "False"]},
        "counts": {"type": "array", "items": NUMBER_TEXT}, "bins": {"type": "array", "items": NUMBER_TEXT},
    }),
    "ActivationHistogram": _obj({
        "networkid": INT, "layer_id": INT,
        "counts": {"type": "array", "items": NUMBER_TEXT}, "bins": {"type": "array", "items": NUMBER_TEXT},
    }),
    "Activation": _obj({
        "tensors": {"type": "array", "items": PNG, "description": "one grayscale PNG per channel"},
        "networkid": INT, "layerID": INT, "zeroValue": INT, "mode": {"const": "Activation"},
    }),
    "Classification": _obj({
        "networkid": INT, "class_names": _strings(),
        "confidence_values": {"type": "array", "items": NUMBER_TEXT, "maxItems": 10},
    }),
    "ActivationImage": {
        "type": "object",
        "description": "the client's ActivationImage struct; mode is required, missing ids count as 0, "
                       "numbers may come as text of ASCII digits, other fields are ignored",
        "properties": {
            "mode": {"anyOf": [{"type": "number", "multipleOf": 1, "minimum": 0, "maximum": 4},
                               {"type": "string", "pattern": r"^[ \t]*(?:\+?0{0,9}[0-4]|-0{1,10})[ \t]*$"}],
                     "description": "; ".join(f"{k} {v}" for k, v in MODES.items())},
            **{field: BODY_ID
               for field in ("networkID", "datasetID", "noiseGeneratorID", "imageID", "layerID", "channelID")},
        },
        "required": ["mode"],
        "x-max-nesting": MAX_NESTING,
    },
    "Prepared": _obj({"networkid": INT, "input_id": INT, "mode": INT}),
    "FeatureVisualization": _obj({
        "tensors": {"type": "array", "items": PNG, "description": "one colour PNG per channel"},
        "networkid": INT, "layerID": INT, "mode": {"const": "FeatureVisualization"},
    }),
    "Progress": _obj({
        "networkid": INT, "mode": {"enum": ["generate", "load"]},
        "layers": {"type": "object", "additionalProperties": _obj({
            "done": INT, "total": INT, "state": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
            "seconds": {"type": "number"}, "error": {"type": "string"},
        }, required=["done", "total", "state", "seconds"])},
    }),
    "Exported": _obj({
        "networkid": INT, "layerID": INT, "mode": {"enum": [2, 3]}, "files": INT,
        "path": {"type": "string", "description": "the export's own folder, relative to the server's cache folder"},
    }),
    "DatasetImages": _obj({
        "len": INT, "class_names": _strings(), "label_ids": {"type": "array", "items": INT},
        "tensors": {"type": "array", "items": PNG},
    }),
    "NoiseImage": _obj({"tensor": PNG}),
    "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
    "AtlasLayout": _obj({
        "channels": INT, "cols": INT, "rows": INT,
        "tileWidth": {"type": "integer", "description": "W of the layer's size (1 for a vector)"},
        "tileHeight": {"type": "integer", "description": "H of the layer's size (1 for a vector)"},
        "zeroValue": {"type": "integer", "minimum": 0, "maximum": 255},
        "min": {"type": "number"}, "max": {"type": "number"},
        "result": {"type": "string", "description": "names the input and weights these maps belong to"},
    }),
    "Input": _obj({
        "networkid": INT, "describe": {"type": "string"},
        "kind": {"enum": ["dataset", "noise", "featvis", "blank", "custom"]},
        "dataset": {"type": ["integer", "null"]}, "index": {"type": ["integer", "null"]},
        "result": {"type": "string"},
        "image": {**PNG, "description": "the input as shown in the frame (RGB, before normalisation)"},
    }),
    "Events": _obj({
        "seq": {"type": "integer", "description": "poll again with this number"},
        "events": {"type": "array", "items": {"oneOf": [
            _obj({"type": {"const": "input"}, "network": INT, "describe": {"type": "string"},
                  "result": {"type": "string"}}),
            _obj({"type": {"const": "weights"}, "network": INT, "result": {"type": "string"}}),
            _obj({"type": {"const": "featvis"}, "network": INT, "layer": INT, "state": {"type": "string"},
                  "done": INT, "total": INT}),
            _obj({"type": {"const": "networks"}}),
        ]}},
        "reset": {"const": True, "description": "events were missed: reload everything"},
    }, required=["seq", "events"]),
}

ID = {"type": "string", "pattern": "^[0-9]{1,9}$"}  # ASCII digits: anything else is 400
PARAMETERS = {
    "networkid": "a network (index in GET network's count)",
    "layerid": "a layer: its index in the architecture",
    "datasetid": "a dataset",
    "noiseid": "a noise generator",
    "since": "the seq of the last answer (0 at first: answers the current seq at once)",
}

# (method, path, answer schema, summary, body)
OPERATIONS = [
    ("get", "/", "Root", "the base URL: answers at once, also while a project loads", None),
    ("get", "/openapi.json", "OpenAPI", "this document", None),
    ("get", "/network", "Counts", "how many networks, datasets and noise generators", None),
    ("get", "/network/{networkid}", "Architecture", "the tracked layers on the client's grid", None),
    *[("put", f"/network/{{networkid}}/setnetwork{action}featvis", "FeatVisMode", summary, "text")
      for action, summary in (("gen", "feature visualizations are computed afresh from now on"),
                              ("load", "feature visualizations come from the store where they exist"),
                              ("delete", "delete the stored feature visualizations"))],
    ("get", "/network/{networkid}/weighthistogram/layerid/{layerid}", "WeightHistogram",
     "16-bin histogram of the layer's weights", None),
    ("get", "/network/{networkid}/activationhistogram/layerid/{layerid}", "ActivationHistogram",
     "16-bin histogram of the layer's activation", None),
    ("get", "/network/{networkid}/activation/layerid/{layerid}", "Activation",
     "the layer's channels as grayscale PNGs on one scale", None),
    ("get", "/network/{networkid}/classificationresult", "Classification", "the top 10 classes", None),
    ("put", "/network/{networkid}/prepareforinput", "Prepared", "choose the input (an ActivationImage)", "json"),
    ("get", "/network/{networkid}/featurevisualization/layerid/{layerid}", "FeatureVisualization",
     "the layer's feature visualizations, one colour PNG per channel", None),
    ("get", "/network/{networkid}/featurevisualization/progress", "Progress",
     "each layer's latest feature-visualization job", None),
    ("put", "/network/{networkid}/export/layerid/{layerid}", "Exported",
     "write the layer's activation (mode 2) or feature visualization (mode 3) as PNG files", "json"),
    ("get", "/dataset/{datasetid}/images", "DatasetImages", "the dataset page's raw images and labels", None),
    ("get", "/noiseimage/{noiseid}", "NoiseImage", "a new noise image (the generator's current one)", None),
    # beyond the Unity client's protocol: what the browser 3D client reads (docs/xr-protocol.md)
    ("get", "/network/{networkid}/atlas/layerid/{layerid}", "image/png",
     "the layer's channel maps as one grayscale PNG atlas (binary), its layout in the X-Dvvr-Atlas header", None),
    ("get", "/network/{networkid}/input", "Input", "this view's current input and its picture", None),
    ("get", "/events/{since}", "Events",
     "long poll: the events after since for this view, at once if there are any, else within 20 s", None),
    ("get", "/xr", "redirect", "the 3D client: redirects to xr/", None),
    ("get", "/xr/", "file", "the 3D client's page", None),
    ("get", "/xr/{path}", "file", "a file of the 3D client (path may hold folders)", None),
]

#: What the 3D client's files are served as.
FILE_TYPES = ("text/html", "text/javascript", "text/css", "application/json", "text/plain", "image/png",
              "image/jpeg", "image/webp", "image/svg+xml", "image/x-icon", "application/wasm", "model/gltf-binary")
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}

ERROR_ANSWER = {"description": "a client error (4xx) or a server that cannot answer (5xx), as JSON",
                "content": {"application/json": {"schema": _ref("Error")}}}


def _parameter(name: str) -> dict:
    if name == "path":
        return {"name": "path", "in": "path", "required": True, "description": "a file below xr/ ('/' allowed)",
                "schema": {"type": "string"}}
    if name == "headset":
        return {"name": "headset", "in": "path", "required": True,
                "description": "a headset's own view: its own current input per network",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "not": {"enum": [".", ".."]}}}
    return {"name": name, "in": "path", "required": True, "description": PARAMETERS[name], "schema": ID}


def _body(kind: str) -> dict:
    if kind == "text":
        return {"required": False, "description": "ignored (the client sends the text 'dummy')",
                "content": {"text/plain": {"schema": {"type": "string", "maxLength": MAX_BODY_BYTES}}}}
    return {"required": True, "description": f"at most {MAX_BODY_BYTES} bytes (413 beyond)",
            "content": {"application/json": {"schema": _ref("ActivationImage")}}}


def _answer(answer: str) -> tuple[str, dict]:
    """The status and the response object of a successful answer."""
    if answer == "image/png":
        png = {"schema": {**BINARY, "contentMediaType": "image/png"}}
        return "200", {"description": "the atlas", "content": {"image/png": png},
                       "headers": {"X-Dvvr-Atlas": {"description": "the atlas's layout as compact JSON",
                                                    "schema": _ref("AtlasLayout")}}}
    if answer == "file":
        return "200", {"description": "the file", "content": {kind: {"schema": BINARY} for kind in FILE_TYPES}}
    if answer == "redirect":
        return "302", {"description": "to xr/", "headers": {"Location": {"schema": {"const": "xr/"}}}}
    return "200", {"description": "the answer", "content": {"application/json": {"schema": _ref(answer)}}}


def _operation(method: str, path: str, answer: str, summary: str, body: str | None) -> dict:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    status, success = _answer(answer)
    operation = {
        "operationId": f"{method}{path}",
        "summary": summary,
        "parameters": [_parameter(name) for name in names],
        "responses": {status: success, "default": ERROR_ANSWER},
    }
    if body:
        operation["requestBody"] = _body(body)
    return operation


@lru_cache(maxsize=1)
def _build() -> dict:
    paths: dict[str, dict] = {}
    for method, path, answer, summary, body in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(method, path, answer, summary, body)
        own = "/h/{headset}" + path
        paths.setdefault(own, {})[method] = _operation(method, own, answer, f"{summary} (a headset's own view)", body)
    return {
        "openapi": "3.1.0",
        "info": {"title": "DeepVisionVR protocol (dvvr)", "version": __version__,
                 "description": "What the DeepVisionVR VR client speaks, and what the browser 3D client adds "
                                "(a PNG atlas, its input, events, its files). Answers are JSON unless said "
                                "otherwise; errors have the Error shape. Paths are relative to the VR base URL."},
        "servers": [{"url": ".", "description": "the VR base URL this document was fetched under"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


def document() -> dict:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_build())
