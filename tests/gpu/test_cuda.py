"""The engine on a CUDA device: a model living on the GPU, served and
visualised, and left untouched.  Skipped where no GPU is present."""

import json

import pytest
import torch
import torchvision

import tiny

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")]


def test_model_on_cuda_full_client_sequence(session, serve, client_for):
    from dvvr import FeatVisConfig

    model = torchvision.models.resnet18(weights=None, num_classes=10).cuda().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    network = session.attach(model, tiny.tiny_images(), class_names=[str(i) for i in range(10)], input_size=(96, 96))
    assert network.device.type == "cuda" and next(network.shadow.model.parameters()).is_cuda
    network.featvis.config = FeatVisConfig(steps=8, batch_size=64)
    client = client_for(serve(session).url)
    layers = client.start_up()["networks"][0]
    for image_id in range(3):
        stats = client.switch(0, layers, {"mode": 1, "imageID": image_id})
        assert len(stats.answers[("cls", None)]["class_names"]) == 10
    client.put("network/0/setnetworkgenfeatvis")
    conv = next(i for i, layer in enumerate(layers) if layer["data_type"] == "2D_feature_map" and i > 0)
    body = client.get(f"network/0/featurevisualization/layerid/{conv}")
    assert len(body["tensors"]) == layers[conv]["size"][1]
    client.put("network/0/prepareforinput", json.dumps({"mode": 3, "layerID": conv, "channelID": 1}))
    assert model.training and all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_cpu_model_served_on_cuda(session):
    model = tiny.TinyTracked()
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 36), device="cuda")
    result = network.result()
    assert next(model.parameters()).device.type == "cpu"  # the user's model stays where it is
    with torch.no_grad():
        model.conv1.weight.mul_(2)  # training moves the live CPU weights ...
    assert not torch.equal(network.refresh().activation(1), result.activation(1))  # ... and the GPU copy follows
