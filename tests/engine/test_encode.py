import io
import struct
import zlib

import numpy as np
import torch
from PIL import Image

from dvvr_jupyter.engine import encode
from dvvr_jupyter.engine.result import channel_images, top_classes


def decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_png_roundtrip_gray_and_rgb():
    gray = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(7, 12)
    image = decode(encode.png_bytes(gray))
    assert image.mode == "L" and image.size == (12, 7) and (np.asarray(image) == gray).all()
    rgb = np.random.default_rng(0).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    image = decode(encode.png_bytes(rgb))
    assert image.mode == "RGB" and (np.asarray(image) == rgb).all()


def test_gray_pngs_decode_to_the_pixels_small_large_and_one_pixel():
    rng = np.random.default_rng(1)
    for shape in [(3, 4, 5), (2, 40, 50), (6, 1, 1)]:  # stored zlib blocks, deflate, the 1-pixel table
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        pngs = encode.gray_pngs(pixels)
        assert len(pngs) == shape[0]
        for png, channel in zip(pngs, pixels, strict=True):
            assert (np.asarray(decode(png)) == channel).all()


def test_small_maps_written_together_are_the_pngs_written_one_by_one():
    """The stored-block PNGs of a whole layer, made in one array, are byte for
    byte the PNG written per image (zlib's own stored stream, chunks, CRCs)."""
    rng = np.random.default_rng(2)
    for shape in [(1280, 7, 7), (40, 28, 28), (3, 1, 9), (2, 9, 1), (5, 4, 5)]:
        for pixels in (rng.integers(0, 256, shape, dtype=np.uint8), np.full(shape, 255, dtype=np.uint8)):
            assert pixels[0].size + shape[1] < encode.STORED_BELOW  # the stored path
            expected = []
            for channel in pixels:
                raw = np.concatenate([np.zeros((shape[1], 1), np.uint8), channel], axis=1).tobytes()
                header = struct.pack(">IIBBBBB", shape[2], shape[1], 8, 0, 0, 0, 0)
                expected.append(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 0))
                                + chunk(b"IEND", b""))
            assert encode.gray_pngs(pixels) == expected


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_layer_scaling_uses_one_min_max_and_places_zero():
    images = channel_images(torch.tensor([[[-1.0, 0.0]], [[1.0, 3.0]]]))  # 2 channels of 1x2
    assert images.pixels.shape == (2, 1, 2) and images.pixels.min() == 0 and images.pixels.max() == 255
    assert images.zero_value == round(255 / 4) and (images.low, images.high) == (-1.0, 3.0)
    assert images.pixels[0, 0, 1] == images.zero_value  # a 0.0 activation lands on zeroValue
    assert len(channel_images(torch.zeros(5)).pngs) == 5  # constant layers still give exactly C images


def test_zero_value_clamped_for_positive_layers():
    assert channel_images(torch.full((1, 2, 2), 3.0) + torch.rand(1, 2, 2)).zero_value == 0


def test_histograms_have_16_bins_of_every_value():
    histogram = encode.histogram(torch.arange(160.0))
    assert len(histogram.counts) == len(histogram.centres) == 16 and sum(histogram.counts) == 160
    assert histogram.centres[0] == 159 / 32
    layer = channel_images(torch.arange(160.0).reshape(10, 4, 4)).histogram
    assert layer == histogram  # the layer's fast path bins as the general one does
    constant = encode.histogram(torch.full((7,), 2.0))
    assert sum(constant.counts) == 7 and constant.centres[0] < 2.0 < constant.centres[-1]


def test_top_classes_softmax_raw_and_segmentation():
    scores = torch.tensor([[1.0, 3.0, 2.0]])
    top = top_classes(scores, ["a", "b", "c"], True)
    assert [name for name, _ in top] == ["b", "c", "a"] and abs(sum(v for _, v in top) - 100) < 0.05
    assert top_classes(scores, ["a", "b", "c"], False) == [("b", 3.0), ("c", 2.0), ("a", 1.0)]
    masks = torch.zeros(1, 3, 4, 4)
    masks[:, 2] = 10.0
    top = top_classes(masks, ["bg", "cat", "dog"], None)
    assert top[0][0] == "dog" and top[0][1] > 99
    assert top_classes(torch.zeros(1, 8, 3), ["x"], None) == []


def test_layers_encoded_during_the_forward_pass_match_layers_encoded_later(tiny_session):
    network = tiny_session.networks[0]
    result = network.set_input(2)
    for layer in network.layers:
        if layer.kind == "info":
            continue
        early = result.channel_images(layer)
        late = channel_images(result.activation(layer))
        assert early.pngs == late.pngs and early.zero_value == late.zero_value
        assert early.histogram == late.histogram and len(early.pngs) == layer.channels
