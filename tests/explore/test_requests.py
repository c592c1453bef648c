"""The explorer's requests, answered from a tiny session (no kernel, no browser)."""

import json
import struct

import numpy as np
import pytest

from dvvr_jupyter.engine.events import NetworksChanged
from dvvr_jupyter.explore.requests import ExplorerRequests, page_size


@pytest.fixture
def api(tiny_session):
    return ExplorerRequests(tiny_session)


def answer(api, method, path, body=None):
    reply = api.handle(method, path, json.dumps(body).encode() if body is not None else b"")
    return reply.status, reply


def unpack(body: bytes):
    length = struct.unpack("<I", body[:4])[0]
    return json.loads(body[4:4 + length]), body[4 + length:]


def test_state_describes_layers_input_and_classes(api):
    status, reply = answer(api, "GET", "state/0")
    state = json.loads(reply.body)
    assert status == 200
    assert [layer["name"] for layer in state["layers"]][:3] == ["Input", "Conv1", "Block"]
    assert state["layers"][2]["kind"] == "info" and state["layers"][7]["shows_class_names"]
    assert state["input"] == {"describe": "image 0 of 'images' (circle)", "kind": "dataset", "dataset": 0, "index": 0}
    assert len(state["result"]["top"]) == 3 and state["dataset"]["len"] == 6


def test_a_page_of_channels_is_the_layers_own_pixels(api, tiny_session):
    network = tiny_session.networks[0]
    status, reply = answer(api, "GET", "network/0/layer/1/channels/2/3/raw")
    meta, payload = unpack(reply.body)
    images = network.result().channel_images(1)
    assert status == 200 and reply.content_type == "application/octet-stream"
    assert (meta["start"], meta["count"], meta["shape"], meta["zero"]) == (2, 3, [8, 32, 36], images.zero_value)
    assert np.array_equal(np.frombuffer(payload, np.uint8).reshape(3, 32, 36), images.pixels[2:5])
    assert meta["weight_histogram"] is not None and len(meta["histogram"]["counts"]) == 16
    # the same page as one PNG of the maps stacked: the same pixels once decoded
    import io

    from PIL import Image

    _, png = unpack(answer(api, "GET", "network/0/layer/1/channels/2/3/png")[1].body)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))).reshape(3, 32, 36), images.pixels[2:5])


def test_vectors_carry_values_and_class_names(api):
    meta, payload = unpack(answer(api, "GET", "network/0/layer/7/channels/0/256/raw")[1].body)
    assert sorted(meta["names"]) == ["circle", "square", "stripes"] and len(meta["values"]) == 3 and len(payload) == 3


def test_big_layers_page_evenly():
    assert page_size(7, 7) == 256 and page_size(112, 112) == 20 and page_size(1, 1) == 256
    assert page_size(112, 112, 32) == 32  # one page, not 20 + 12
    assert page_size(112, 112, 50) == 17  # three even pages
    assert page_size(7, 7, 1280) == 256


def test_long_vectors_come_sorted_top_first_with_their_unit(api, tiny_session):
    meta, payload = unpack(answer(api, "GET", "network/0/layer/7/channels/0/256/raw")[1].body)
    values = meta["values"]
    assert values == sorted(values, reverse=True) and meta["order"] == "value"
    assert meta["unit"] == ""  # raw scores (tiny's "Scores" layer): no unit
    scores = tiny_session.networks[0].result().activation(7).numpy()
    assert meta["channels"] == [int(i) for i in np.argsort(-scores, kind="stable")]
    assert meta["names"] == [["circle", "square", "stripes"][i] for i in meta["channels"]]
    assert json.loads(answer(api, "GET", "state/0")[1].body)["result"]["top_unit"] == "%"


def test_a_softmax_is_shown_in_percent():
    from dvvr_jupyter.explore.requests import _is_probability

    assert _is_probability(np.array([0.25, 0.75], np.float32)) and not _is_probability(np.array([-1.0, 2.0]))


def test_one_channel_for_the_inspector(api, tiny_session):
    meta, payload = unpack(answer(api, "GET", "network/0/layer/1/channel/5")[1].body)
    activation = tiny_session.networks[0].result().activation(1)[5].numpy()
    values = np.frombuffer(payload, "<f4").reshape(meta["shape"])
    assert meta["shape"] == [32, 36] and np.array_equal(values, activation)
    assert meta["max"] == float(activation.max()) and abs(meta["mean"] - float(activation.mean())) < 1e-5
    assert values[tuple(meta["argmax"])] == meta["max"]
    assert answer(api, "GET", "network/0/layer/1/channel/8")[0] == 404
    assert answer(api, "GET", "network/0/layer/2/channel/0")[0] == 400


def test_choosing_inputs(api, tiny_session):
    events = []
    tiny_session.events.subscribe(events.append)
    status, reply = answer(api, "POST", "network/0/input", {"kind": "dataset", "index": 4})
    assert status == 200 and json.loads(reply.body)["input"]["index"] == 4
    tiny_session.events.flush()
    assert [(type(e).__name__, e.origin) for e in events][:1] == [("InputChanged", "widget")]
    before = tiny_session.noise_generators[0].version
    state = json.loads(answer(api, "POST", "network/0/input", {"kind": "noise"})[1].body)
    assert state["input"]["kind"] == "noise" and tiny_session.noise_generators[0].version != before
    assert json.loads(answer(api, "POST", "network/0/input", {"kind": "blank"})[1].body)["input"]["kind"] == "blank"
    assert answer(api, "GET", "network/0/input.png")[1].body.startswith(b"\x89PNG")
    assert answer(api, "GET", "dataset/0/thumb/5.png")[1].body.startswith(b"\x89PNG")


@pytest.mark.parametrize(("method", "path", "body", "status", "says"), [
    ("GET", "state/3", None, 404, "network 3 does not exist"),
    ("GET", "state/x", None, 400, "network must be a non-negative integer"),
    ("GET", "network/0/layer/2/channels/0/8/raw", None, 400, "info panel"),
    ("GET", "network/0/layer/99/channels/0/8/raw", None, 404, "layer id 99 is out of range"),
    ("GET", "dataset/0/thumb/6.png", None, 404, "imageID 6 is out of range"),
    ("POST", "network/0/input", {"kind": "video"}, 400, "kind must be one of"),
    ("POST", "network/0/input", {"kind": "dataset"}, 400, "index is required"),
    ("POST", "network/0/input", {"kind": "dataset", "index": "3"}, 400, "index must be an integer"),
    ("POST", "network/0/input", {"kind": "featvis", "layer": 1, "channel": 0}, 400, "no feature visualization"),
    ("POST", "network/0/input", {"kind": "noise", "generator": 4}, 404, "noise generator 4 does not exist"),
    ("POST", "network/0/track", {"track": ["conv1", "nope"]}, 400, "does not have"),
    ("POST", "network/0/track", {"track": ["conv1", "conv1"]}, 200, "re-tracked"),
    ("POST", "network/0/track", {"track": 3}, 400, "track must be"),
    ("POST", "network/0/featvis/2/start", {}, 400, "info panel"),
    ("GET", "network/0/featvis/1/channels/0/4", None, 404, "no stored feature visualization"),
    ("POST", "state/0", {}, 400, "takes GET"),
    ("GET", "../../etc/passwd", None, 404, "no such explorer route"),
])
def test_bad_input_is_a_4xx_naming_the_problem(api, method, path, body, status, says):
    got, reply = answer(api, method, path, body)
    assert (got, reply.content_type) == (status, "application/json; charset=UTF-8")
    assert says in json.loads(reply.body)["message"]


def test_a_body_that_is_not_a_json_object(api):
    for body in (b"[1]", b"{", b"\xff"):
        reply = api.handle("POST", "network/0/input", body)
        assert reply.status == 400 and "JSON object" in json.loads(reply.body)["message"]


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                  b'{"index": ' + b"9" * 5000 + b"}", b'{"index": NaN}'])
def test_the_protocols_body_check_holds_here_too(api, caplog, body):
    # deep nesting made json recurse into a RecursionError: a 500 with a traceback in the kernel's log
    reply = api.handle("POST", "network/0/input", body)
    assert (reply.status, json.loads(reply.body)["error"]) == (400, "BadRequest"), reply.body[:200]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("digits", ["\u0663", "\u00b2", "\uff11", "1_0"])
def test_ids_are_ascii_digits_only(api, digits):
    status, reply = answer(api, "GET", f"state/{digits}")
    assert (status, json.loads(reply.body)["field"]) == (400, "network"), reply.body


def test_modules_and_retracking_keep_the_network_id(api, tiny_session):
    network = tiny_session.networks[0]
    tree = json.loads(answer(api, "GET", "network/0/modules")[1].body)
    assert tree["trackers"] and tree["tracking"] == "auto" and tree["presets"]["conv"] == ["conv1", "conv2"]
    # the widget's preset buttons come from here, in this order (no list of its own)
    assert list(tree["preset_labels"]) == list(tree["presets"]) == ["auto", "blocks", "conv", "all"]
    assert {"name": "conv1", "type": "Conv2d", "children": 0, "params": 8 * 3 * 9 + 8} in tree["modules"]
    events = []
    tiny_session.events.subscribe(events.append, NetworksChanged)
    status, reply = answer(api, "POST", "network/0/track", {"track": ["conv1", "pool"]})
    assert status == 200 and json.loads(reply.body)["state"] == "done"
    assert tiny_session.networks == [network] and network.id == 0
    assert [layer.name for layer in network.layers] == ["Input", "conv1", "pool"]
    tiny_session.events.flush()
    assert [e.change for e in events] == ["retracked"]
    assert json.loads(answer(api, "GET", "network/0/modules")[1].body)["tracked"] == ["conv1", "pool"]
    assert answer(api, "POST", "network/0/track", {"track": "auto"})[0] == 200
    assert len(network.layers) == 8


def test_feature_visualization_jobs(api, tiny_session):
    from dvvr import FeatVisConfig

    network = tiny_session.networks[0]
    network.featvis.config = FeatVisConfig(steps=2, batch_size=8)
    status, reply = answer(api, "POST", "network/0/featvis/1/start", {})
    assert status == 200 and json.loads(reply.body)["job"]["total"] == 8
    network.featvis.job(1).result(timeout=120)
    assert json.loads(answer(api, "GET", "state/0")[1].body)["featvis_stored"] == [1]
    meta, payload = unpack(answer(api, "GET", "network/0/featvis/1/channels/0/4")[1].body)
    assert meta["count"] == 4 and len(payload) == 4 * 32 * 36 * 3
    assert (meta["stale"], meta["partial"], meta["weights"]) == (False, False, 0)
    state = json.loads(answer(api, "POST", "network/0/input", {"kind": "featvis", "layer": 1, "channel": 3})[1].body)
    assert state["input"] == {"describe": "feature visualization of 'tiny' layer 1 channel 3", "kind": "featvis",
                              "layer": 1, "channel": 3}
    job = state["featvis"]["1"]
    assert (job["state"], job["weights"], job["fraction"], job["eta_s"]) == ("done", 0, 1.0, None)


def test_after_training_the_old_pictures_show_marked_stale(api, tiny_session):
    import torch

    from dvvr import FeatVisConfig

    network = tiny_session.networks[0]
    network.featvis.config = FeatVisConfig(steps=2, batch_size=4)
    answer(api, "POST", "network/0/featvis/1/start", {})
    job = network.featvis.job(1)
    first = job.result(timeout=120)
    assert job.ready == [True] * 8  # each batch was shown as it finished
    with torch.no_grad():
        network.model.conv1.weight.mul_(-1)  # training moved the weights on
    network.refresh()
    state = json.loads(answer(api, "GET", "state/0")[1].body)
    assert state["featvis_stored"] == [] and state["result"]["weights"] > 0 and state["featvis_any"] == [1]
    # not a silent 404: the pictures of the old weights, saying which
    status, reply = answer(api, "GET", "network/0/featvis/1/channels/0/8")
    meta, payload = unpack(reply.body)
    assert status == 200 and meta["stale"] and meta["weights"] == 0 and meta["now"] == state["result"]["weights"]
    assert payload == first.permute(0, 2, 3, 1).contiguous().numpy().tobytes()
    # "start" recomputes for the weights of now
    answer(api, "POST", "network/0/featvis/1/start", {})
    network.featvis.job(1).result(timeout=120)
    meta, _ = unpack(answer(api, "GET", "network/0/featvis/1/channels/0/8")[1].body)
    assert not meta["stale"] and meta["weights"] == meta["now"]


def test_settings_come_through_the_constructor(tiny_session):
    """The kernel passes its VR URLs and its main thread; each dispatcher keeps its own."""
    queued = []
    kernel_side = ExplorerRequests(tiny_session, connection=lambda: {"vr_url": "http://vr/"},
                                   schedule=lambda fn: queued.append(fn) or "queued")
    plain = ExplorerRequests(tiny_session)
    assert json.loads(kernel_side.handle("GET", "connection").body) == {"vr_url": "http://vr/"}
    assert json.loads(plain.handle("GET", "connection").body) == {}
    reply = kernel_side.submit("POST", "network/0/track", json.dumps({"track": ["conv1"]}).encode()).result(30)
    assert reply.status == 202 and json.loads(reply.body)["state"] == "queued" and len(queued) == 1
    assert len(tiny_session.networks[0].layers) == 8  # not re-tracked until the kernel runs it
    queued[0]()
    assert [layer.name for layer in tiny_session.networks[0].layers] == ["Input", "conv1"]


def test_a_vision_transformers_token_and_attention_layers(session):
    """A ViT block's maps on the patch grid and its attention heads, as the explorer reads them."""
    import torch
    from torchvision.models.vision_transformer import VisionTransformer

    import tiny

    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=3)
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 32))
    api = ExplorerRequests(session)
    layers = {layer["name"]: layer for layer in json.loads(answer(api, "GET", "state/0")[1].body)["layers"]}
    attention, token = layers["encoder Encoder attention"], layers["encoder Encoder class token"]
    assert (attention["kind"], attention["shape"]) == ("feature_map", [2, 4, 4])
    assert (token["kind"], token["shape"]) == ("vector", [16])
    meta, payload = unpack(answer(api, "GET", f"network/0/layer/{attention['id']}/channels/0/2/raw")[1].body)
    assert meta["shape"] == [2, 4, 4] and len(meta["histogram"]["counts"]) == 16
    pixels = network.result().channel_images(attention["id"]).pixels
    assert np.array_equal(np.frombuffer(payload, np.uint8).reshape(2, 4, 4), pixels)


def test_layers_name_the_module_the_tree_ticks(session):
    """One naming: each layer's ``unit`` is a module the tree ticks, also where
    the value is read after another module (the stem's conv, read after its
    activation, as in the demo network)."""
    import torch
    from torch import nn

    import tiny

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)

        def forward(self, x):
            return x + torch.relu(self.bn(self.conv(x)))

    class StemBlocksHead(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem, self._bn0, self._stem_act = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6()
            self._blocks = nn.Sequential(Block(), Block())
            self._conv_head, self._bn1, self._head_act = nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU6()
            self._avg_pooling, self._fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 3)

        def forward(self, x):
            x = self._blocks(self._stem_act(self._bn0(self._conv_stem(x))))
            return self._fc(self._avg_pooling(self._head_act(self._bn1(self._conv_head(x)))).flatten(1))

    session.attach(StemBlocksHead().eval(), tiny.tiny_images(), name="demo-like", class_names=tiny.CLASSES,
                   input_size=(32, 36))
    api = ExplorerRequests(session)
    tree = json.loads(answer(api, "GET", "network/0/modules")[1].body)
    layers = json.loads(answer(api, "GET", "state/0")[1].body)["layers"]
    units = [layer["unit"] for layer in layers if layer["unit"]]
    assert units == tree["tracked"]
    stem = next(layer for layer in layers if layer["unit"] == "_conv_stem")
    assert (stem["module"], stem["weight_module"]) == ("_stem_act", "_conv_stem")
    head = next(layer for layer in layers if layer["unit"] == "_conv_head")
    assert head["module"] == "_head_act"
