"""projects/demo through the protocol, as the VR client sees it."""

import json

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dvvr import Server, Session
    from dvvr_jupyter.engine.project import load_project
    from dvvr_jupyter.protocol.client import VRClient

    session = Session(cache_dir=tmp_path_factory.mktemp("cache"))
    load_project(REPO / "projects" / "demo", session)
    server = Server(session, "127.0.0.1", 0).start()
    client = VRClient(server.url)
    yield client, client.start_up()
    client.close()
    server.stop()
    session.close()


def photo_id(state, word):
    names = state["datasets"][0]["class_names"]
    return next(i for i, name in enumerate(names) if word in name)


def test_start_up_shape(demo):
    _, state = demo
    assert state["counts"] == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 1}
    assert state["datasets"][0]["len"] >= 16
    layers = state["networks"][0]
    assert 10 <= len(layers) <= 50
    assert layers[0]["size"] == [1, 3, 224, 224]
    assert layers[-1]["layer_name"].endswith("(display_classnames)") and layers[-1]["size"] == [1, 1000]


def test_cat_photo_top_classes_are_cats(demo):
    client, state = demo
    stats = client.switch(0, state["networks"][0], {"mode": 1, "imageID": photo_id(state, "cat")})
    top = stats.answers[("cls", None)]["class_names"][:3]
    assert set(top) <= {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}, top


def test_coffee_photo_top1_is_espresso(demo):
    client, state = demo
    stats = client.switch(0, state["networks"][0], {"mode": 1, "imageID": photo_id(state, "coffee")})
    assert stats.answers[("cls", None)]["class_names"][0] == "espresso"


def test_noise_and_zero_inputs(demo):
    client, state = demo
    client.get("noiseimage/0")
    client.switch(0, state["networks"][0], {"mode": 4})
    stats = client.switch(0, state["networks"][0], {"mode": 0})
    assert len(stats.answers[("cls", None)]["class_names"]) == 10


def test_bad_image_id_on_the_demo(demo):
    client, state = demo
    answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 999}))
    assert answer.status == 404 and "imageID 999" in answer.body["message"]
