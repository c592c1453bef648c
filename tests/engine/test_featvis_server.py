"""Feature visualizations through a real server on loopback: the client's
"generate all" while other requests flow, the progress route, and a cache
folder that cannot be written."""

from __future__ import annotations

import json
import logging
import threading

import dvvr
from dvvr_jupyter.protocol.client import check_feature_visualization

import tiny


def test_generate_all_while_switching(tiny_session, serve, client_for):
    network = tiny_session.networks[0]
    network.featvis.config = dvvr.FeatVisConfig(steps=3, batch_size=4)
    client = client_for(serve(tiny_session).url)
    layers = client.start_up()["networks"][0]
    client.put("network/0/setnetworkgenfeatvis")
    wanted = [i for i, layer in enumerate(layers) if layer["data_type"] != "None"]
    answers = {}

    def ask(layer_id):
        answers[layer_id] = client.request("GET", f"network/0/featurevisualization/layerid/{layer_id}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in wanted]  # every layer at once
    for thread in threads:
        thread.start()
    stats = client.switch(0, layers, {"mode": 1, "imageID": 2})  # answered while the jobs run
    for thread in threads:
        thread.join()
    assert stats.requests > 0
    for layer_id in wanted:
        assert answers[layer_id].status == 200, answers[layer_id].body
        check_feature_visualization(answers[layer_id].body, 0, layer_id, layers[layer_id])
    progress = client.get("network/0/featurevisualization/progress")
    assert {k: v["state"] for k, v in progress["layers"].items()} == {str(i): "done" for i in wanted if i != 0}
    # a feature visualization as the next input (mode 3), then back to the stored pictures
    client.put("network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 3, "channelID": 2}))
    client.put("network/0/setnetworkloadfeatvis")
    assert len(client.get("network/0/featurevisualization/layerid/3")["tensors"]) == 8


def test_unwritable_cache_answers_200_and_keeps_the_pictures(tmp_path, serve, client_for, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    session = dvvr.Session(cache_dir=blocker / "cache")
    try:
        network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
        network.featvis.config = dvvr.FeatVisConfig(steps=2, batch_size=4)
        client = client_for(serve(session).url)
        client.start_up()  # puts the client in "load" mode
        with caplog.at_level(logging.WARNING, logger="dvvr.featvis"):
            first = client.get("network/0/featurevisualization/layerid/3")
            job = network.featvis.job(3)
            again = client.get("network/0/featurevisualization/layerid/3")
        assert len(first["tensors"]) == 8 and again == first
        assert network.featvis.job(3) is job  # the retry was answered from memory, not recomputed
        assert caplog.text.count("cannot store feature visualizations") == 1
    finally:
        session.close()
