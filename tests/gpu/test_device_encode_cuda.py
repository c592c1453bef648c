"""A switch on CUDA scales and bins its layers on the GPU
(``engine.device_encode``): the pixels, zero values and histograms are the
CPU functions' on the same values (within one level or count where float
rounding could differ), and the answers keep their format.  Skipped where no
GPU is present (tests/engine/test_device_encode.py runs the same code on CPU)."""

import io

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dvvr_jupyter.engine import device_encode
from dvvr_jupyter.engine.layers import INFO
from dvvr_jupyter.engine.result import channel_images

import tiny

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")]


def close_to_cpu(images, tensor):
    """``images`` (made from the GPU's scaling) against the CPU's ``channel_images`` of ``tensor``."""
    expected = channel_images(tensor.detach().float().cpu())
    assert images.pixels.shape == expected.pixels.shape
    assert np.abs(images.pixels.astype(np.int16) - expected.pixels.astype(np.int16)).max(initial=0) <= 1
    assert abs(images.zero_value - expected.zero_value) <= 1
    assert (images.low, images.high) == (expected.low, expected.high)
    assert np.allclose(images.histogram.centres, expected.histogram.centres)
    assert max(abs(a - b) for a, b in zip(images.histogram.counts, expected.histogram.counts, strict=True)) <= 1
    assert len(images.pngs) == len(expected.pngs)
    for png, pixels in zip(images.pngs, images.pixels, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), pixels)


def test_random_layers_scaled_on_the_gpu_match_the_cpu():
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.relu(torch.randn(64, 56, 56, generator=generator)), torch.randn(1000, generator=generator),
               torch.randn(512, 7, 7, generator=generator) * 1e4, torch.full((3, 4, 4), -1.5),
               torch.randn(32, 28, 28, generator=generator).half()]
    tensors[2][0, 0, 0] = float("nan")
    on_gpu = [t.cuda() for t in tensors]
    for tensor, scaled in zip(tensors, device_encode.scale_layers(on_gpu), strict=True):
        close_to_cpu(device_encode.channel_images(scaled), tensor)


def test_switch_on_cuda_encodes_on_the_gpu_as_the_cpu_would(session, serve, client_for, monkeypatch):
    calls = []  # the layers each forward pass scaled on the GPU
    layers_to_host = device_encode.layers_to_host

    def spy(output, tensors, scaled):
        scaled = list(scaled)
        calls.append(len(scaled))
        return layers_to_host(output, tensors, scaled)

    monkeypatch.setattr(device_encode, "layers_to_host", spy)
    model = torchvision.models.resnet18(weights=None, num_classes=10).cuda().eval()
    network = session.attach(model, tiny.tiny_images(), class_names=[str(i) for i in range(10)], input_size=(96, 96))
    for image_id in range(2):
        result = network.set_input(image_id)
        for layer in network.layers:
            if layer.kind != INFO:
                close_to_cpu(result.channel_images(layer), result.activation(layer))
    shown = sum(layer.kind != INFO for layer in network.layers)
    assert calls and set(calls) == {shown}  # every shown layer of each forward pass, in one call
    client = client_for(serve(session).url)
    layers = client.start_up()["networks"][0]
    stats = client.switch(0, layers, {"mode": 1, "imageID": 3})  # the client's checks of every answer
    result = network.result()
    for layer_id, layer in enumerate(layers):
        if layer["data_type"] == "2D_feature_map":
            body = stats.answers[("act", layer_id)]
            assert body["zeroValue"] == result.channel_images(layer_id).zero_value
            assert len(body["tensors"]) == layer["size"][1]
            counts = stats.answers[("ahist", layer_id)]["counts"]
            assert counts == [str(c) for c in result.histogram(layer_id).counts]
