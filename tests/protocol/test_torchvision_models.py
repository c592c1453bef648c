"""Unmodified torchvision models, auto-tracked and read by the client."""

import pytest
import torchvision

import tiny


@pytest.mark.parametrize("build", [
    lambda: torchvision.models.mobilenet_v3_small(weights=None, num_classes=5),
    lambda: torchvision.models.densenet121(weights=None, num_classes=5),
])
def test_classifier_full_switch(build, session, serve, client_for):
    session.attach(build(), tiny.tiny_images(), class_names=list("abcde"), input_size=(64, 64))
    client = client_for(serve(session).url)
    layers = client.start_up()["networks"][0]
    assert 10 <= len(layers) <= 50
    stats = client.switch(0, layers, {"mode": 1, "imageID": 2})
    assert len(stats.answers[("cls", None)]["class_names"]) == 5


def test_segmentation_shows_class_maps_and_image_level_classes(session, serve, client_for):
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                       num_classes=4)
    session.attach(model, tiny.tiny_images(), class_names=["bg", "cat", "dog", "car"], input_size=(64, 64))
    client = client_for(serve(session).url)
    layers = client.start_up()["networks"][0]
    assert layers[-1]["data_type"] == "2D_feature_map" and layers[-1]["size"] == [1, 4, 64, 64]
    stats = client.switch(0, layers, {"mode": 1, "imageID": 0})
    answer = stats.answers[("cls", None)]
    assert sorted(answer["class_names"]) == ["bg", "car", "cat", "dog"]
    assert abs(sum(float(v) for v in answer["confidence_values"]) - 100) < 0.1
