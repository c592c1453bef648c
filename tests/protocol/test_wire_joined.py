"""The answers joined by hand (base64 lists) are byte for byte what json.dumps writes."""

import json

import numpy as np
import pytest
import torch

from dvvr_jupyter.engine import encode
from dvvr_jupyter.protocol import wire


@pytest.mark.parametrize("count", [0, 1, 3, 40])
def test_feature_visualization_answer_is_json_dumps(count):
    images = torch.from_numpy(np.random.default_rng(count).integers(0, 256, (count, 3, 9, 11), dtype=np.uint8))

    class Network:
        id = 2

    expected = json.dumps({"tensors": [wire._b64(png) for png in encode.rgb_pngs(images)], "networkid": 2,
                           "layerID": 7, "mode": "FeatureVisualization"}, ensure_ascii=False).encode()
    assert wire.feature_visualization(Network, 7, images) == expected


def test_tensors_answer_keeps_key_order_and_values():
    rest = {"networkid": 0, "layerID": 5, "zeroValue": 17, "mode": "Activation"}
    pngs = encode.gray_pngs(np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5))
    joined = wire._tensors_answer([wire._b64_bytes(png) for png in pngs], rest)
    assert joined == json.dumps({"tensors": [wire._b64(png) for png in pngs], **rest}, ensure_ascii=False).encode()
