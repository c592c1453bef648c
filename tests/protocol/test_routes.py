"""Every route of PROTOCOL.md against a real server on loopback."""

import json
import threading
from concurrent.futures import Future

import pytest
import torch
from torch import nn

from dvvr_jupyter.protocol.client import (
    check_architecture,
    check_dataset,
    check_feature_visualization,
    png_size,
)


@pytest.fixture
def client(tiny_session, serve, client_for):
    return client_for(serve(tiny_session).url)


def test_root_answers_200(client):
    answer = client.request("GET", "")
    assert answer.status == 200 and answer.body["status"] == "ok"


# The VR client gives the base URL 2 seconds, then shows its built-in demo.
# What could make the base URL late is waiting for the project to load or for
# a forward pass; the two tests below answer it while each provably still runs
# (benchmarks/switch.py measures the time: first_answer_s).

def test_base_url_answers_while_the_project_loads(tiny_session, serve, client_for):
    loading = Future()  # ``dvvr serve`` listens with this, then loads the project into it
    url = serve(loading).url
    base, waiting = client_for(url), client_for(url)
    assert base.get("", timeout=30) == {"service": "dvvr", "status": "loading"}
    networks = waiting.pool.submit(waiting.get, "network")  # the other routes wait for the project
    assert base.get("", timeout=30)["status"] == "loading" and not loading.done()
    assert not networks.done()
    loading.set_result(tiny_session)
    assert networks.result(timeout=60) == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 1}
    assert base.get("", timeout=30)["status"] == "ok"


FORWARD_STARTED = threading.Event()
FORWARD_GATE = threading.Event()


class HeldForward(nn.Module):
    """A convolution whose forward pass waits for FORWARD_GATE (module-level
    events: the engine runs a deep copy of the model)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        FORWARD_STARTED.set()
        assert FORWARD_GATE.wait(120), "the test never opened the gate"
        return self.conv(x)


def test_base_url_answers_while_a_forward_pass_runs(session, serve, client_for):
    import tiny

    FORWARD_GATE.set()  # attaching traces the model once
    session.attach(HeldForward(), tiny.tiny_images(), name="held", input_size=(16, 16))
    url = serve(session).url
    base, switching = client_for(url), client_for(url)
    switching.get("network/0/activation/layerid/1")  # the first input's result exists
    FORWARD_GATE.clear()
    FORWARD_STARTED.clear()
    switch = switching.pool.submit(switching.put, "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 2}))
    assert FORWARD_STARTED.wait(60), "the switch's forward pass did not start"
    try:
        assert base.get("", timeout=30)["status"] == "ok"
        assert not switch.done()  # answered while the forward pass waits at the gate
    finally:
        FORWARD_GATE.set()
    switch.result(timeout=60)


def test_counts(client):
    assert client.get("network") == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 1}


def test_architecture_of_a_tracker_model(client):
    body = client.get("network/0")
    layers = check_architecture(body, 0)
    assert [layer["layer_name"] for layer in layers] == [
        "Input", "Conv1", "Block", "Conv2", "Skip", "Sum", "Pool", "Scores (display_classnames)"]
    assert layers[0]["size"] == [1, 3, 32, 36]
    assert layers[2] == {"pos": [2, 0], "layer_name": "Block", "data_type": "None", "size": [0],
                         "precursors": [[1, 0]]}
    assert layers[4]["pos"] == [3, 1] and layers[5]["precursors"] == [[3, 0], [3, 1]]
    assert layers[7]["data_type"] == "1D_vector" and layers[7]["size"] == [1, 3]
    assert body["class_names"] == ["circle", "square", "stripes"]


def test_dataset_page_has_raw_images_at_original_size(client):
    page = check_dataset(client.get("dataset/0/images"))
    assert page["len"] == 6 and page["label_ids"] == [0, 1, 2, 0, 1, 2]
    assert png_size(page["tensors"][1]) == (46, 44)  # width, height of the untransformed image


def test_noise_image_is_new_each_call(client):
    first, second = client.get("noiseimage/0")["tensor"], client.get("noiseimage/0")["tensor"]
    assert first != second and png_size(first) == (36, 32)


def test_activation_has_exactly_c_images_and_zero_value(client):
    body = client.get("network/0/activation/layerid/1")
    assert len(body["tensors"]) == 8 and body["mode"] == "Activation"
    assert 0 <= body["zeroValue"] <= 255
    assert png_size(body["tensors"][0]) == (36, 32)
    vector = client.get("network/0/activation/layerid/7")
    assert len(vector["tensors"]) == 3 and png_size(vector["tensors"][0]) == (1, 1)


def test_histograms(client):
    weights = client.get("network/0/weighthistogram/layerid/1")
    assert weights["has_weights"] == "True" and len(weights["counts"]) == 16
    assert sum(int(c) for c in weights["counts"]) == 8 * 3 * 3 * 3
    assert client.get("network/0/weighthistogram/layerid/4")["has_weights"] == "False"
    activations = client.get("network/0/activationhistogram/layerid/1")
    assert sum(int(c) for c in activations["counts"]) == 8 * 32 * 36
    centres = [float(b) for b in activations["bins"]]
    assert centres == sorted(centres)


def test_classification_top_classes(client):
    body = client.get("network/0/classificationresult")
    assert sorted(body["class_names"]) == ["circle", "square", "stripes"]
    assert abs(sum(float(v) for v in body["confidence_values"]) - 100) < 0.1


def test_prepare_for_input_changes_the_answers(client):
    before = client.get("network/0/activation/layerid/0")
    client.put("network/0/prepareforinput", json.dumps({"mode": 1, "datasetID": 0, "imageID": 3}))
    after = client.get("network/0/activation/layerid/0")
    assert before["tensors"] != after["tensors"]
    client.get("noiseimage/0")
    client.put("network/0/prepareforinput", json.dumps({"mode": 4, "noiseGeneratorID": 0}))
    assert client.get("network/0/activation/layerid/0")["tensors"] != after["tensors"]
    client.put("network/0/prepareforinput", json.dumps({"mode": 0}))
    zero = client.get("network/0/activation/layerid/0")
    assert zero["zeroValue"] == 0 and len(set(zero["tensors"])) == 1


def test_feature_visualization_modes_and_input(client, tiny_session):
    tiny_session.networks[0].featvis.config = type(tiny_session.networks[0].featvis.config)(steps=4, batch_size=8)
    layers = client.get("network/0")["architecture"]
    answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 1}))
    assert answer.status == 400 and "feature visualization" in answer.body["message"]
    client.put("network/0/setnetworkgenfeatvis")
    body = client.get("network/0/featurevisualization/layerid/1")
    check_feature_visualization(body, 0, 1, layers[1])
    assert png_size(body["tensors"][0]) == (36, 32)
    progress = client.get("network/0/featurevisualization/progress")
    assert progress["layers"]["1"]["state"] == "done" and progress["mode"] == "generate"
    client.put("network/0/setnetworkloadfeatvis")
    assert client.get("network/0/featurevisualization/layerid/1")["tensors"] == body["tensors"]
    client.put("network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 1, "channelID": 5}))
    layer0 = client.get("network/0/featurevisualization/layerid/0")
    assert len(layer0["tensors"]) == 3 and png_size(layer0["tensors"][0]) == (1, 1)
    client.put("network/0/setnetworkdeletefeatvis")
    answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 1}))
    assert answer.status == 400


def test_export_writes_png_files(client, tiny_session):
    body = client.put("network/0/export/layerid/1", json.dumps({"mode": 2, "layerID": 1}))
    assert not body["path"].startswith("/")  # relative to the server's cache dir: no server paths leak
    files = sorted(p.name for p in (tiny_session.cache_dir / body["path"]).iterdir())
    assert body["files"] == 8 and files == sorted(f"{i}.png" for i in range(8))


def test_feature_visualization_does_not_block_other_requests(client, tiny_session):
    network = tiny_session.networks[0]
    network.featvis.config = type(network.featvis.config)(steps=100_000, batch_size=8)  # runs until cancelled
    client.put("network/0/setnetworkgenfeatvis")
    pending = client.pool.submit(client.get, "network/0/featurevisualization/layerid/3")
    while client.get("network/0/featurevisualization/progress")["layers"].get("3", {}).get("state") != "running":
        pass  # the job has started
    client.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 2}))
    assert len(client.get("network/0/activation/layerid/1")["tensors"]) == 8
    assert not pending.done()  # answered while the layer is being visualised
    client.put("network/0/setnetworkdeletefeatvis")  # cancels the job
    assert "cancelled" in str(pending.exception(timeout=60))
    assert client.get("network/0/featurevisualization/progress")["layers"] == {}


def test_attach_again_replaces_and_detach_removes(client, tiny_session):
    import tiny

    network = tiny_session.networks[0]
    again = tiny_session.attach(network.model, tiny_session.datasets[0], name="tiny", input_size=(32, 36))
    assert again.id == 0 and client.get("network")["nnetworks"] == 1  # re-running a cell: same id
    other = tiny_session.attach(tiny.TinyTracked(), tiny_session.datasets[0], name="other", input_size=(20, 20))
    assert other.id == 1 and client.get("network/1")["architecture"][0]["size"] == [1, 3, 20, 20]
    tiny_session.detach(again)
    assert other.id == 0 and client.get("network")["nnetworks"] == 1
    assert client.request("GET", "network/1").status == 404


def test_structure_change_answers_409_and_reattach_shows_the_new_model(client, tiny_session):
    network = tiny_session.networks[0]
    network.model.fc = __import__("torch").nn.Linear(8, 5)  # the user rebuilds the head in a cell
    answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 1}))
    assert answer.status == 409 and "dvvr.attach" in answer.body["message"]
    assert client.request("GET", "network/0").status == 200  # still serving the model it knew
    tiny_session.attach(network.model, tiny_session.datasets[0], input_size=(32, 36))
    assert client.get("network/0")["architecture"][-1]["size"] == [1, 5]


def test_a_feature_visualization_that_fails_answers_422(session, serve, client_for):
    import numpy as np
    import torch

    from dvvr import FeatVisConfig, TrackerModule

    class ThroughNumpy(torch.nn.Module):
        """Fine for inference, but no gradient can flow through numpy."""

        def __init__(self):
            super().__init__()
            self.t_in = TrackerModule((0, 0), "Input")
            self.t_out = TrackerModule((1, 0), "Through numpy", precursors=[(0, 0)])

        def forward(self, x):
            self.t_in(x)
            return self.t_out(torch.from_numpy(np.tanh(x.numpy())))

    import tiny

    network = session.attach(ThroughNumpy(), tiny.tiny_images(), input_size=(16, 16))
    network.featvis.config = FeatVisConfig(steps=2, batch_size=4)
    client = client_for(serve(session).url)
    answer = client.request("GET", "network/0/featurevisualization/layerid/1")
    assert answer.status == 422 and "failed on this model" in answer.body["message"]
    assert client.get("network/0/featurevisualization/progress")["layers"]["1"]["state"] == "failed"
    assert client.request("GET", "network").status == 200


def test_an_input_chosen_in_the_headset_is_heard_in_python(client, tiny_session):
    from dvvr_jupyter.engine.events import InputChanged

    heard = []
    tiny_session.events.subscribe(heard.append, InputChanged)
    client.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 5}))
    client.put("network/0/prepareforinput", json.dumps({"mode": 0}))
    assert tiny_session.events.flush(30)
    assert [(e.origin, e.input.describe()) for e in heard] == [
        ("vr", "image 5 of 'images' (stripes)"), ("vr", "blank (all zeros)")]


def test_each_headset_has_its_own_view(client, tiny_session, client_for):
    base = client.base_url
    alice, bob = client_for(base + "h/alice/"), client_for(base + "h/bob-2/")
    client.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 1}))
    shared = client.get("network/0/activation/layerid/1")
    assert alice.get("network/0/activation/layerid/1") == shared  # a new headset starts where the class is
    alice.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 4}))
    bob.put("network/0/prepareforinput", json.dumps({"mode": 0}))
    mine = alice.get("network/0/activation/layerid/1")
    assert mine != shared and bob.get("network/0/activation/layerid/1") not in (mine, shared)
    assert client.get("network/0/activation/layerid/1") == shared  # the shared view did not move
    network = tiny_session.networks[0]
    assert sorted(network.views()) == ["alice", "bob-2"]
    assert network.result("alice").input.describe() == "image 4 of 'images' (square)"
    # the same input with the same weights: one result, shared by every view
    client.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 4}))
    assert network.result() is network.result("alice")
    assert alice.get("network") == client.get("network") and alice.get("network/0") == client.get("network/0")
    bad = client.request("GET", "h/no%20spaces/network")
    assert bad.status == 400 and bad.body["field"] == "headset"
    assert client.request("GET", "h//network").status == 400
