import numpy as np
import torch

from dvvr_jupyter.engine import encode
from dvvr_jupyter.engine.result import classification


def test_png_roundtrip_gray_and_rgb():
    gray = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(7, 12)
    image = encode.decode_png_base64(encode.png_base64(gray))
    assert image.mode == "L" and image.size == (12, 7) and (np.asarray(image) == gray).all()
    rgb = np.random.default_rng(0).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    image = encode.decode_png_base64(encode.png_base64(rgb))
    assert image.mode == "RGB" and (np.asarray(image) == rgb).all()


def test_layer_scaling_uses_one_min_max_and_places_zero():
    layer = torch.tensor([[[-1.0, 0.0]], [[1.0, 3.0]]])  # 2 channels of 1x2
    pixels, zero = encode.to_uint8_layer(layer)
    assert pixels.shape == (2, 1, 2) and pixels.min() == 0 and pixels.max() == 255
    assert zero == round(255 / 4)
    assert pixels[0, 0, 1] == zero  # a 0.0 activation lands on zeroValue
    pngs, _ = encode.layer_pngs(torch.zeros(5))
    assert len(pngs) == 5  # constant layers still give exactly C images


def test_zero_value_clamped_for_positive_layers():
    assert encode.to_uint8_layer(torch.full((1, 2, 2), 3.0) + torch.rand(1, 2, 2))[1] == 0


def test_histogram_16_bins_centres_as_strings():
    counts, bins = encode.histogram(torch.arange(160.0))
    assert len(counts) == len(bins) == 16 and all(isinstance(c, str) for c in counts + bins)
    assert sum(map(int, counts)) == 160
    assert float(bins[0]) == 159 / 32


def test_classification_softmax_raw_and_segmentation():
    scores = torch.tensor([[1.0, 3.0, 2.0]])
    names, values = classification(scores, ["a", "b", "c"], True)
    assert names == ["b", "c", "a"] and abs(sum(map(float, values)) - 100) < 0.05
    names, values = classification(scores, ["a", "b", "c"], False)
    assert values == ["3.00", "2.00", "1.00"]
    masks = torch.zeros(1, 3, 4, 4)
    masks[:, 2] = 10.0
    names, values = classification(masks, ["bg", "cat", "dog"], None)
    assert names[0] == "dog" and float(values[0]) > 99
    assert classification(torch.zeros(1, 8, 3), ["x"], None) == ([], [])


def test_layers_encoded_late_match_layers_encoded_during_the_forward_pass(tiny_session):
    """Answers started while the forward pass runs equal answers built afterwards."""
    import json

    from dvvr_jupyter.engine.result import Result

    network = tiny_session.networks[0]
    result = network.compute()
    late = Result(input_id=0, network_id=network.network_id, layers=result.layers,
                  activations=[None if a is None else a.unsqueeze(0) for a in result.activations],
                  output=result.output, class_names=network.class_names, softmax=None,
                  weight_histogram=network.weight_histogram, input_tensor=result.input_tensor, description={},
                  pool=tiny_session.pool)
    for layer_id, tensor in enumerate(result.activations):
        if tensor is None:
            continue
        early_answer, early_hist = result.layer_answers(layer_id).result()
        late_answer, late_hist = late.layer_answers(layer_id).result()
        assert json.loads(early_answer) == json.loads(late_answer)
        assert early_hist == late_hist
        assert len(json.loads(late_answer)["tensors"]) == tensor.shape[0]
