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
