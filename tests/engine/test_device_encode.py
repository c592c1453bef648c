"""The device-side scaling of a switch's layers (``engine.device_encode``)
gives what the CPU's functions give, value for value: here on CPU tensors
(the same torch code runs on the GPU; tests/gpu compares it there)."""

import numpy as np
import pytest
import torch

from dvvr_jupyter.engine import device_encode, encode
from dvvr_jupyter.engine.result import channel_images


def layers():
    generator = torch.Generator().manual_seed(0)
    spiky = torch.randn(16, 12, 10, generator=generator) * 3
    spiky[2, 3, 4] = float("nan")  # non-finite values count as 0, as on the CPU
    spiky[5, 0, 0] = float("inf")
    return [
        torch.relu(torch.randn(8, 20, 24, generator=generator)),  # zero at the bottom of the scale
        torch.randn(100, generator=generator),  # a vector: [C, 1, 1] pictures
        spiky,
        torch.full((4, 3, 3), 2.5),  # one value throughout: numpy's unit-wide histogram
        torch.zeros(3, 5, 5),
        (torch.randn(6, 1, 9, generator=generator) - 40).half(),  # a half layer, all below zero
    ]


def cpu_fields(tensor):
    data = encode.layer_array(tensor)
    pixels, zero_value, low, high = encode.scale_layer(data)
    return pixels, zero_value, low, high, encode.layer_histogram(data, low, high)


def test_device_scaling_equals_the_cpu_functions():
    tensors = layers()
    scaled = device_encode.scale_layers(tensors)
    assert len(scaled) == len(tensors)
    for tensor, got in zip(tensors, scaled, strict=True):
        pixels, zero_value, low, high, histogram = cpu_fields(tensor)
        assert got.pixels.dtype == np.uint8 and got.pixels.shape == pixels.shape
        assert np.array_equal(got.pixels, pixels)
        assert (got.zero_value, got.low, got.high) == (zero_value, low, high)
        assert got.histogram == histogram


def test_device_channel_images_are_the_cpu_ones():
    tensors = layers()
    for tensor, scaled in zip(tensors, device_encode.scale_layers(tensors), strict=True):
        images = device_encode.channel_images(scaled)
        expected = channel_images(tensor.float())
        assert images.pngs == expected.pngs and images.histogram == expected.histogram
        assert images.zero_value == expected.zero_value


def test_no_layers():
    assert device_encode.scale_layers([]) == []


@pytest.mark.parametrize("value", [0.0, -3.25, 1e-30, 7e5])
def test_constant_histogram_is_numpys(value):
    expected = encode.histogram(np.full(37, value, dtype=np.float32))
    assert device_encode.constant_histogram(float(np.float32(value)), 37) == expected


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_output", [True, False])
def test_one_copy_brings_the_floats_of_to_host_and_the_scaled_layers(device, with_output):
    from dvvr_jupyter.engine.network import to_host

    tensors = dict(zip([4, 0, 7, 2, 9, 5], layers(), strict=True))
    on_device = {index: tensor.to(device) for index, tensor in tensors.items()}
    output = torch.randn(1, 6).to(device) if with_output else None
    chosen = [0, 2, 9, 5]  # the others: info panels, never scaled
    host_output, host, scaled = device_encode.layers_to_host(output, on_device, chosen)
    want_output, want = to_host(output, on_device)
    assert sorted(host) == sorted(want) and list(scaled) == chosen
    for index in want:  # the activations as recorded (NaN and inf kept), float32 on the CPU
        assert host[index].device.type == "cpu" and host[index].dtype == torch.float32
        assert torch.equal(host[index].nan_to_num(), want[index].nan_to_num()), index
        assert torch.equal(host[index].isnan(), want[index].isnan())
    assert (host_output is None) == (want_output is None)
    if want_output is not None:
        assert torch.equal(host_output, want_output)
    for index in chosen:
        pixels, zero_value, low, high, histogram = cpu_fields(tensors[index])
        got = scaled[index]
        assert np.array_equal(got.pixels, pixels) and got.histogram == histogram
        assert (got.zero_value, got.low, got.high) == (zero_value, low, high)


def test_one_copy_with_nothing_to_scale():
    output = torch.randn(1, 3)
    host_output, host, scaled = device_encode.layers_to_host(output, {1: torch.ones(2, 2, 2)}, [])
    assert torch.equal(host_output, output) and torch.equal(host[1], torch.ones(2, 2, 2)) and scaled == {}
    assert device_encode.layers_to_host(None, {}, []) == (None, {}, {})
