"""Automatic tracking of unmodified models (torchvision, weights=None)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models
from torchvision.models import segmentation

from dvvr_jupyter.engine.autotrack import derive_layers, trackable_modules
from dvvr_jupyter.engine.capture import HookCapture
from dvvr_jupyter.engine.layers import LayerSpec, check_layers

SIZE = 96  # small inputs keep the suite fast; every model here accepts 96x96

BUILDERS = {
    "resnet18": lambda: models.resnet18(weights=None),
    "vgg11": lambda: models.vgg11(weights=None),
    "mobilenet_v3_small": lambda: models.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda: models.efficientnet_b0(weights=None),
    "densenet121": lambda: models.densenet121(weights=None),
    "lraspp": lambda: segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None),
}
SEGMENTATION = {"lraspp"}


def _snapshot(model: nn.Module):
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "attrs": [sorted(vars(m)) for m in model.modules()],
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
    }


def _assert_unchanged(before, after):
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key
    for field in ("training", "requires_grad", "attrs", "hooks"):
        assert before[field] == after[field], field


def _record(model: nn.Module, layers: list[LayerSpec], x: torch.Tensor):
    """Activations from HookCapture in eval mode; the model's flags come back after."""
    flags = [m.training for m in model.modules()]
    capture = HookCapture(model, layers)
    try:
        model.eval()
        with torch.no_grad():
            return capture.run(model, x)
    finally:
        capture.close()
        for module, flag in zip(model.modules(), flags, strict=True):
            module.training = flag


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def derived(request):
    torch.manual_seed(0)
    model = BUILDERS[request.param]().train()  # train mode: derivation must not switch it
    x = torch.randn(1, 3, SIZE, SIZE)
    before = _snapshot(model)
    layers = derive_layers(model, x)
    return request.param, model, x, layers, before, _snapshot(model)


def test_torchvision_layers_are_readable_and_valid(derived):
    name, _, _, layers, _, _ = derived
    assert 10 <= len(layers) <= 50, [layer.name for layer in layers]
    check_layers(layers)
    assert layers[0] == LayerSpec(pos=(0, 0), name="Input", source="", record="input")
    assert layers[1].name.startswith("Stem (")
    if name in SEGMENTATION:
        assert not any(layer.post == "softmax" for layer in layers)
    else:
        assert layers[-1].name == "Probabilities (display_classnames)"
        assert layers[-1].post == "softmax" and layers[-1].source == ""
        assert layers[-2].name.endswith("(display_classnames)")
        assert layers[-1].precursors == (layers[-2].pos,)


def test_torchvision_derivation_leaves_model_untouched(derived):
    _, model, _, _, before, after = derived
    assert model.training
    _assert_unchanged(before, after)


def test_torchvision_capture_records_every_layer(derived):
    name, model, x, layers, _, _ = derived
    output, activations = _record(model, layers, x)
    for layer, value in zip(layers, activations, strict=True):
        assert isinstance(value, torch.Tensor), layer.name
        assert value.shape[0] == 1, layer.name
    last = activations[-1]
    if name in SEGMENTATION:
        assert last.dim() == 4 and last.shape[-2:] == (SIZE, SIZE)
    else:
        assert torch.allclose(last.sum(dim=1), torch.ones(1))
        assert torch.equal(activations[-2], output)


def test_weight_modules_have_weights(derived):
    _, model, _, layers, _, _ = derived
    for layer in layers:
        if layer.weight_module is not None:
            assert isinstance(model.get_submodule(layer.weight_module).weight, torch.Tensor)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return models.resnet18(weights=None).eval(), torch.randn(1, 3, 64, 64)


def test_resnet_skip_paths_are_side_lanes(resnet):
    model, x = resnet
    by_name = {layer.name: layer for layer in derive_layers(model, x)}
    assert by_name["Stem (conv1)"].weight_module == "conv1"
    assert by_name["avgpool"].weight_module is None
    assert by_name["fc (display_classnames)"].weight_module == "fc"
    block_in = by_name["layer1.1 BasicBlock"].pos
    main, skip = by_name["layer2.0 Main (bn2)"], by_name["layer2.0 Skip (downsample)"]
    block = by_name["layer2.0 BasicBlock"]
    assert skip.pos == (main.pos[0], 1) and main.pos[1] == 0
    assert main.precursors == skip.precursors == (block_in,)
    assert set(block.precursors) == {main.pos, skip.pos}
    assert block.pos == (main.pos[0] + 1, 0)
    assert skip.source == "layer2.0.downsample" and skip.weight_module == "layer2.0.downsample.0"
    assert block.weight_module == "layer2.0.conv2"
    # identity-skip blocks are one layer fed by the block before
    assert by_name["layer2.1 BasicBlock"].precursors == (block.pos,)


def test_track_list_tracks_exactly_those_in_graph_order(resnet):
    model, x = resnet
    layers = derive_layers(model, x, track=["fc", "layer1"])
    assert [layer.name for layer in layers] == ["Input", "layer1 Sequential", "fc (display_classnames)"]
    assert [layer.source for layer in layers] == ["", "layer1", "fc"]
    assert layers[2].precursors == (layers[1].pos,)
    check_layers(layers)


def test_track_predicate_follows_the_real_graph(resnet):
    model, x = resnet
    layers = derive_layers(model, x, track=lambda name, m: isinstance(m, nn.Conv2d))
    by_source = {layer.source: layer for layer in layers}
    assert len(layers) == 1 + 20  # Input and resnet18's 20 convolutions
    down = by_source["layer2.0.downsample.0"]
    assert down.pos[1] == 1  # beside layer2.0.conv1, fed by the same block input
    assert down.precursors == by_source["layer2.0.conv1"].precursors
    # the block output (a functional add) feeds the next conv from both paths
    assert set(by_source["layer2.1.conv1"].precursors) == {by_source["layer2.0.conv2"].pos, down.pos}
    check_layers(layers)


def test_track_all_covers_every_parametric_or_pooling_leaf(resnet):
    model, x = resnet
    layers = derive_layers(model, x, track="all")
    leaves = [
        n
        for n, m in model.named_modules()
        if not list(m.children()) and (list(m.parameters()) or "Pool" in type(m).__name__)
    ]
    assert {layer.source for layer in layers} >= set(leaves)
    assert layers[-1].post == "softmax"
    check_layers(layers)
    _, activations = _record(model, layers, x)
    assert all(a is not None for a in activations)


@pytest.mark.parametrize(
    ("track", "error", "match"),
    [
        (42, TypeError, "track must be"),
        ("everything", ValueError, "only string accepted is 'all'"),
        (["no_such_module"], ValueError, "trackable_modules"),
        ([3], TypeError, "as str"),
        (["layer1", "layer1.0"], ValueError, "contain one another"),
        (lambda name, m: False, ValueError, "selects no modules"),
        ([], ValueError, "selects no modules"),
    ],
)
def test_bad_track_values_explain_themselves(resnet, track, error, match):
    model, x = resnet
    with pytest.raises(error, match=match):
        derive_layers(model, x, track=track)


def test_trackable_modules_lists_qualified_names(resnet):
    names = trackable_modules(resnet[0])
    assert "layer2.0.downsample.0" in names and "" not in names


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace this forward."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        if x.sum() > 0:
            x = self.conv2(x)
        return self.head(x.mean(dim=(2, 3)))


def test_untraceable_model_falls_back_to_call_order():
    torch.manual_seed(0)
    model, x = Untraceable().train(), torch.randn(1, 3, 16, 16)
    before = _snapshot(model)
    with pytest.warns(UserWarning, match="cannot trace"):
        layers = derive_layers(model, x)
    _assert_unchanged(before, _snapshot(model))
    assert [layer.name for layer in layers] == [
        "Input",
        "Stem (conv1)",
        "pool",
        "conv2",
        "head (display_classnames)",
        "Probabilities (display_classnames)",
    ]
    assert all(layer.precursors == (prev.pos,) for prev, layer in zip(layers, layers[1:], strict=False))
    check_layers(layers)
    _, activations = _record(model, layers, x)
    assert all(a is not None and a.shape[0] == 1 for a in activations)


class WithConstant(nn.Module):
    """fx stores tensors made in forward as attributes of the root."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.conv(x) + torch.ones(1))


def test_tracing_leaves_no_attributes_behind():
    model, x = WithConstant(), torch.randn(2, 3, 8, 8)
    before = _snapshot(model)
    layers = derive_layers(model, x)
    _assert_unchanged(before, _snapshot(model))
    assert [layer.source for layer in layers] == ["", "conv", "pool"]
    assert layers[2].precursors == (layers[1].pos,)


def test_check_layers_rejects_shared_pos_and_dangling_precursors():
    with pytest.raises(ValueError, match="share pos"):
        check_layers([LayerSpec((0, 0), "a"), LayerSpec((0, 0), "b")])
    with pytest.raises(ValueError, match="no layer has"):
        check_layers([LayerSpec((0, 0), "a"), LayerSpec((1, 0), "b", precursors=((0, 1),))])
