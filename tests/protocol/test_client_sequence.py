"""The client's full sequence: start-up, concurrent refresh bursts, and the
dataset / noise / feature-visualization inputs, with every answer read the way
the Unity client reads it."""

import base64
import json

from dvvr import FeatVisConfig


def test_full_client_sequence_two_networks(tiny_session, serve, client_for):
    import tiny

    second = tiny.TinyTracked(n_classes=3)
    tiny_session.attach(second, tiny_session.datasets[0], name="tiny-2", class_names=tiny.CLASSES, input_size=(24, 24))
    for network in tiny_session.networks:
        network.featvis.config = FeatVisConfig(steps=3, batch_size=8)
    client = client_for(serve(tiny_session).url)
    state = client.start_up()
    assert state["counts"] == {"nnetworks": 2, "ndatasets": 1, "nnoiseGenerators": 1}
    for n, layers in enumerate(state["networks"]):
        stats = client.refresh(n, layers)
        assert stats.requests == 5 * 3 + 1 + 1 + 1  # 5 maps x 3 routes + pool + scores + classification
        for image_id in range(3):
            client.switch(n, layers, {"mode": 1, "imageID": image_id})
        client.get("noiseimage/0")
        client.switch(n, layers, {"mode": 4, "noiseGeneratorID": 0})
        client.get(f"network/{n}/featurevisualization/layerid/3")
        client.switch(n, layers, {"mode": 3, "networkID": n, "layerID": 3, "channelID": 1})
    # a feature visualization of network 0 as the input of network 1 (other size)
    client.switch(1, state["networks"][1], {"mode": 3, "networkID": 0, "layerID": 3, "channelID": 0})


def test_a_burst_never_mixes_two_inputs(tiny_session, serve, client_for):
    """Switch inputs while a refresh burst is in flight: each answer belongs to one input."""
    network = tiny_session.networks[0]
    client = client_for(serve(tiny_session).url)
    layers = client.start_up()["networks"][0]
    expected = {}
    for image_id in (0, 1):
        result = network.set_input(image_id)
        expected[image_id] = [base64.b64encode(png).decode() for png in result.channel_images(1).pngs]
    futures = []
    for round_ in range(6):
        image_id = round_ % 2
        body = json.dumps({"mode": 1, "imageID": image_id})
        futures.append(client.pool.submit(client.put, "network/0/prepareforinput", body))
        futures += [client.pool.submit(client.get, "network/0/activation/layerid/1") for _ in range(8)]
    answers = [f.result() for f in futures]
    for answer in answers:
        if "tensors" in answer:
            assert answer["tensors"] in (expected[0], expected[1])
    assert len(layers) == 8
