"""A stand-in for the VR client: the same requests, in the same order and
concurrency, and the same reading of the answers.

Used by the tests, the benchmarks and anyone checking a server by hand
(``python -m dvvr_jupyter.protocol.client http://127.0.0.1:5570/``).
Every ``check_*`` function raises ``ProtocolViolation`` where the Unity
client would break.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

DATA_TYPES = {"2D_feature_map", "1D_vector", "None"}


class ProtocolViolation(AssertionError):
    pass


@dataclass
class Answer:
    status: int
    body: dict
    nbytes: int
    seconds: float


@dataclass
class SwitchStats:
    seconds: float
    nbytes: int
    requests: int
    answers: dict = field(default_factory=dict)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ProtocolViolation(message)


def png_size(text: str) -> tuple[int, int]:
    """(width, height) of a base64 PNG, read from its header."""
    raw = base64.b64decode(text)
    _require(raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


class VRClient:
    def __init__(self, base_url: str, *, timeout: float = 120.0, concurrency: int = 32, headers=None):
        _require(base_url.endswith("/"), "the client's base URL ends with '/'")
        self.base_url = base_url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._url = urllib.parse.urlsplit(base_url)
        self._local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=concurrency)

    # --- raw requests ----------------------------------------------------------
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        # One keep-alive connection per thread, as Unity's web requests reuse them.
        connection = getattr(self._local, "connection", None)
        if connection is None:
            factory = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
            connection = factory(self._url.hostname, self._url.port, timeout=timeout)
            self._local.connection = connection
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def request(self, method: str, resource: str, body: bytes | str | None = None,
                timeout: float | None = None) -> Answer:
        data = body.encode() if isinstance(body, str) else body
        path = self._url.path + resource
        began = time.perf_counter()
        for attempt in (1, 2):
            connection = self._connection(timeout or self.timeout)
            try:
                connection.request(method, path, body=data, headers=self.headers)
                response = connection.getresponse()
                status, raw = response.status, response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()  # the server closed an idle keep-alive connection: retry once
                self._local.connection = None
                if attempt == 2:
                    raise
            except BaseException:
                connection.close()
                self._local.connection = None
                raise
        seconds = time.perf_counter() - began
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise ProtocolViolation(f"{method} {resource} -> {status}: answer is not JSON: {raw[:200]!r}") from None
        _require(isinstance(parsed, dict), f"{method} {resource}: answer is not a JSON object")
        return Answer(status, parsed, len(raw), seconds)

    def get(self, resource: str, **kw) -> dict:
        answer = self.request("GET", resource, **kw)
        _require(200 <= answer.status < 300, f"GET {resource} -> {answer.status}: {answer.body}")
        return answer.body

    def put(self, resource: str, body="dummy", **kw) -> dict:
        answer = self.request("PUT", resource, body, **kw)
        _require(200 <= answer.status < 300, f"PUT {resource} -> {answer.status}: {answer.body}")
        return answer.body

    # --- the client's sequences ------------------------------------------------
    def start_up(self) -> dict:
        """Steps 1-5 of the start-up sequence; returns what the client knows."""
        root = self.request("GET", "", timeout=2.0)
        _require(root.status == 200, f"GET base_url -> {root.status}: the client would fall back to its demo")
        counts = self.get("network")
        for key in ("nnetworks", "ndatasets", "nnoiseGenerators"):
            _require(isinstance(counts.get(key), int), f"network: {key} must be an int")
        datasets = [check_dataset(self.get(f"dataset/{d}/images")) for d in range(counts["ndatasets"])]
        noise = [check_noise(self.get(f"noiseimage/{g}")) for g in range(counts["nnoiseGenerators"])]
        networks = []
        for n in range(counts["nnetworks"]):
            self.put(f"network/{n}/setnetworkloadfeatvis")
            networks.append(check_architecture(self.get(f"network/{n}"), n))
        return {"counts": counts, "datasets": datasets, "noise": noise, "networks": networks}

    def refresh(self, n: int, architecture: list) -> SwitchStats:
        """Step 6: every answer of one network, all requests in flight at once."""
        resources = []
        for layer_id, layer in enumerate(architecture):
            if layer["data_type"] == "2D_feature_map":
                resources.append(("whist", layer_id, f"network/{n}/weighthistogram/layerid/{layer_id}"))
                resources.append(("ahist", layer_id, f"network/{n}/activationhistogram/layerid/{layer_id}"))
            if layer["data_type"] in ("2D_feature_map", "1D_vector"):
                resources.append(("act", layer_id, f"network/{n}/activation/layerid/{layer_id}"))
        resources.append(("cls", None, f"network/{n}/classificationresult"))
        began = time.perf_counter()
        answers = list(self.pool.map(lambda r: (r, self.request("GET", r[2])), resources))
        seconds = time.perf_counter() - began
        out = {}
        for (kind, layer_id, resource), answer in answers:
            _require(answer.status == 200, f"GET {resource} -> {answer.status}: {answer.body}")
            layer = architecture[layer_id] if layer_id is not None else None
            {"whist": check_weight_histogram, "ahist": check_histogram, "act": check_activation,
             "cls": check_classification}[kind](answer.body, n, layer_id, layer)
            out[(kind, layer_id)] = answer.body
        return SwitchStats(seconds, sum(a.nbytes for _, a in answers), len(answers), out)

    def switch(self, n: int, architecture: list, choice: dict) -> SwitchStats:
        """Choose an input the way the client does, then refresh."""
        began = time.perf_counter()
        body = {"networkID": n, "datasetID": 0, "noiseGeneratorID": 0, "imageID": 0, "layerID": 0, "channelID": 0,
                "className": "", "mode": 1, "isRGB": True, "zeroValue": 0.0, "nDim": 2, "tex": None, **choice}
        self.put(f"network/{n}/prepareforinput", json.dumps(body))
        stats = self.refresh(n, architecture)
        stats.seconds = time.perf_counter() - began
        return stats

    def close(self) -> None:
        self.pool.shutdown(wait=False)


# --- how the client reads each answer ------------------------------------------
def check_architecture(body: dict, n: int) -> list:
    _require(body.get("networkid") == n, "architecture: networkid")
    _require(isinstance(body.get("class_names"), list), "architecture: class_names must be a list")
    layers = body.get("architecture")
    _require(isinstance(layers, list) and layers, "architecture: a non-empty list")
    positions = [tuple(layer["pos"]) for layer in layers]
    _require(len(set(positions)) == len(positions), "architecture: two layers share a pos")
    for layer in layers:
        _require(layer["data_type"] in DATA_TYPES, f"architecture: bad data_type {layer['data_type']!r}")
        size = layer["size"]
        expected = {"2D_feature_map": 4, "1D_vector": 2, "None": 1}[layer["data_type"]]
        _require(len(size) == expected and all(isinstance(s, int) for s in size), f"architecture: size {size}")
        for pre in layer["precursors"]:
            _require(tuple(pre) in positions, f"architecture: precursor {pre} is no layer's pos")
    return layers


def check_activation(body: dict, n: int, layer_id: int, layer: dict) -> None:
    _require(body["mode"] == "Activation" and body["networkid"] == n and body["layerID"] == layer_id,
             "activation: ids/mode")
    _require(isinstance(body["zeroValue"], int), "activation: zeroValue must be an int")
    channels = layer["size"][1]
    _require(len(body["tensors"]) == channels, f"activation of layer {layer_id}: {len(body['tensors'])} images, "
             f"the client indexes {channels} channels")
    want = (layer["size"][3], layer["size"][2]) if layer["data_type"] == "2D_feature_map" else (1, 1)
    _require(png_size(body["tensors"][0]) == want, f"activation of layer {layer_id}: image size != {want}")


def _check_bins(body: dict, what: str) -> None:
    for key in ("counts", "bins"):
        values = body[key]
        _require(isinstance(values, list), f"{what}: {key} must be a list")
        [float(v) for v in values]  # the client casts each with (float)


def check_histogram(body: dict, n: int, layer_id: int, layer=None) -> None:
    _require(body["networkid"] == n and body["layer_id"] == layer_id, "activationhistogram: ids")
    _check_bins(body, "activationhistogram")
    _require(len(body["counts"]) == 16 and len(body["bins"]) == 16, "activationhistogram: 16 bins")


def check_weight_histogram(body: dict, n: int, layer_id: int, layer=None) -> None:
    _require(body["has_weights"] in ("True", "False"), "weighthistogram: has_weights is the string True/False")
    _require(body["networkid"] == n and body["layer_id"] == layer_id, "weighthistogram: ids")
    _check_bins(body, "weighthistogram")
    if body["has_weights"] == "True":
        _require(len(body["counts"]) == 16, "weighthistogram: 16 bins")


def check_classification(body: dict, n: int, layer_id=None, layer=None) -> None:
    _require(body["networkid"] == n, "classificationresult: networkid")
    names, values = body["class_names"], body["confidence_values"]
    _require(len(names) == len(values) <= 10, "classificationresult: top 10, equal lengths")
    for value in values:
        _require(isinstance(value, str) and "." in value and len(value.split(".")[1]) == 2,
                 "classificationresult: confidences as text with two decimals")
    floats = [float(v) for v in values]
    _require(floats == sorted(floats, reverse=True), "classificationresult: best first")


def check_dataset(body: dict) -> dict:
    _require(body["len"] == len(body["tensors"]) == len(body["label_ids"]), "dataset: len/tensors/label_ids")
    for label in body["label_ids"]:
        _require(0 <= label < len(body["class_names"]), "dataset: label id outside class_names")
    return body


def check_noise(body: dict) -> dict:
    png_size(body["tensor"])
    return body


def check_feature_visualization(body: dict, n: int, layer_id: int, layer: dict) -> None:
    _require(body["mode"] == "FeatureVisualization" and body["networkid"] == n and body["layerID"] == layer_id,
             "featurevisualization: ids/mode")
    _require(len(body["tensors"]) == layer["size"][1], "featurevisualization: one image per channel")


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        print("usage: python -m dvvr_jupyter.protocol.client BASE_URL", file=sys.stderr)
        return 2
    client = VRClient(args[0])
    state = client.start_up()
    print(f"start-up ok: {state['counts']}")
    for n, layers in enumerate(state["networks"]):
        stats = client.switch(n, layers, {"mode": 1, "imageID": 0})
        print(f"network {n}: switch {stats.seconds * 1000:.0f} ms, {stats.requests} requests, "
              f"{stats.nbytes / 1e6:.1f} MB")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
