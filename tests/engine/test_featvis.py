"""Feature visualization: the render loop on a tiny CNN (objective, parameterisations,
transforms, devices); the store is tested in test_featvis_store.py."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import replace

import pytest
import torch
from torch import nn

from dvvr_jupyter.engine.capture import HookCapture
from dvvr_jupyter.engine.featvis.config import FeatVisConfig
from dvvr_jupyter.engine.featvis.method import FeatVisCancelled, is_channels_last, prepare_model, visualize
from dvvr_jupyter.engine.featvis.parameterisations import make_image
from dvvr_jupyter.engine.featvis.transforms import random_affine
from dvvr_jupyter.engine.layers import LayerSpec

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
FAST = FeatVisConfig(steps=8, batch_size=4, jitter=2)
CONV2, LINEAR = 1, 2  # indices into LAYERS


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    ).eval()
    for param in model.parameters():
        param.requires_grad_(False)  # as the engine's shadow copy
    return model


LAYERS = [
    LayerSpec(pos=(0, 0), name="conv1", source="0"),
    LayerSpec(pos=(1, 0), name="conv2", source="2"),
    LayerSpec(pos=(2, 0), name="fc", source="6"),
]


@pytest.fixture()
def setup():
    model = _model()
    capture = HookCapture(model, LAYERS)
    start = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(1))
    yield model, capture, start
    capture.close()


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def _channel_values(model, capture, layer, pixels):
    x = (pixels - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    with torch.no_grad():
        _, acts = capture.run(model, x.unsqueeze(0) if x.dim() == 3 else x)
    act = acts[layer]
    return act.flatten(2).mean(2) if act.dim() > 2 else act


@pytest.mark.parametrize("layer", [CONV2, LINEAR])
def test_ascent_raises_each_target_channel(setup, layer):
    model, capture, start = setup
    channels = list(range(16)) if layer == CONV2 else list(range(5))
    images = visualize(model, capture, layer, start, channels, mean=MEAN, std=STD, config=FAST)
    assert images.shape == (len(channels), 3, 24, 24) and images.dtype == torch.uint8
    before = _channel_values(model, capture, layer, start)[0]
    after = _channel_values(model, capture, layer, images.float() / 255)
    for b, c in enumerate(channels):
        assert after[b, c] > before[c], f"channel {c}: {after[b, c]:.4f} <= {before[c]:.4f}"


def test_model_left_untouched_under_no_grad(setup):
    model, capture, start = setup
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = _hooks(model)
    with torch.no_grad():  # the caller's mode must not matter
        visualize(model, capture, CONV2, start, [0, 3], mean=None, std=None, config=FAST)
        assert not torch.is_grad_enabled()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert _hooks(model) == hooks


def test_progress_and_logging(setup, caplog):
    model, capture, start = setup
    calls = []
    with caplog.at_level(logging.DEBUG, logger="dvvr.featvis"):  # per-batch lines are at DEBUG
        visualize(model, capture, CONV2, start, range(10), mean=MEAN, std=STD,
                  config=FeatVisConfig(steps=2, batch_size=4), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert any("10/10" in r.getMessage() for r in caplog.records)


def test_should_stop_cancels(setup):
    model, capture, start = setup
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 3

    with pytest.raises(FeatVisCancelled):
        visualize(model, capture, CONV2, start, range(8), mean=MEAN, std=STD, config=FAST, should_stop=stop)
    assert len(polls) == 4
    assert all(p.grad is None for p in model.parameters())


def test_bad_channel_and_empty(setup):
    model, capture, start = setup
    with pytest.raises(IndexError):
        visualize(model, capture, LINEAR, start, [5], mean=MEAN, std=STD, config=FAST)
    assert visualize(model, capture, LINEAR, start, [], mean=MEAN, std=STD).shape == (0, 3, 24, 24)


def test_seed_makes_it_reproducible(setup):
    model, capture, start = setup
    config = FeatVisConfig(steps=3, batch_size=2)
    a = visualize(model, capture, CONV2, start, [1, 2], mean=MEAN, std=STD, config=config)
    b = visualize(model, capture, CONV2, start, [1, 2], mean=MEAN, std=STD, config=config)
    assert torch.equal(a, b)



@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_beats_a_random_image_by_a_margin(setup, param):
    """Each picture drives its channel well past what random images reach, and
    is the picture of the batch its channel likes best."""
    model, capture, start = setup
    channels = list(range(16))
    config = FeatVisConfig(steps=24, param=param, batch_size=16)
    images = visualize(model, capture, CONV2, start, channels, mean=MEAN, std=STD, config=config)
    random_images = torch.rand(32, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    best_random = _channel_values(model, capture, CONV2, random_images).max(0).values
    after = _channel_values(model, capture, CONV2, images.float() / 255)
    target = after[channels, channels]
    alive = best_random > 1e-3  # a channel no random image excites has no scale to compare with
    assert (target[alive] > 1.5 * best_random[alive]).all(), (target, best_random)
    # specific: channel c's own picture excites it more than the other channels' pictures do
    assert (after.argmax(0) == torch.tensor(channels)).sum() >= 12, after.argmax(0)


def test_objective_rises_with_steps(setup):
    model, capture, start = setup
    on_start = (start.unsqueeze(0) * 255).round() / 255  # what 0 steps would give
    values = [float(_channel_values(model, capture, CONV2, on_start)[0, 5])]
    for steps in (4, 16):
        images = visualize(model, capture, CONV2, start, [5], mean=MEAN, std=STD,
                           config=FeatVisConfig(steps=steps, plain_last=0))
        values.append(float(_channel_values(model, capture, CONV2, images.float() / 255)[0, 5]))
    assert values[0] < values[1] < values[2], values


@pytest.mark.parametrize("kind", ["fourier", "pixel"])
def test_parameterisation_starts_at_the_input(kind):
    start = torch.rand(3, 20, 27, generator=torch.Generator().manual_seed(3)) * 0.9 + 0.05
    image = make_image(kind, start, 2)
    pixels = image.pixels()
    assert pixels.shape == (2, 3, 20, 27)
    assert torch.allclose(pixels, start.expand_as(pixels), atol=1e-4)
    assert all(p.requires_grad for p in image.parameters())


def test_unknown_parameterisation():
    with pytest.raises(ValueError, match="fourier"):
        make_image("wavelets", torch.rand(3, 4, 4), 1)


def test_whole_pixel_jitter_moves_without_blurring():
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    out = random_affine(x, jitter=3, rotate=10, scale=(0.9, 1.1), p_warp=0.0, gen=torch.Generator().manual_seed(5))
    for a, b in zip(x, out, strict=True):  # each image is its own whole-pixel shift of the input
        inner = b[:, 4:-4, 4:-4]
        assert any(torch.allclose(a[:, 4 + dy:12 + dy, 4 + dx:12 + dx], inner, atol=1e-5)
                   for dy in range(-3, 4) for dx in range(-3, 4))
    warped = random_affine(x, jitter=0, rotate=10, scale=(0.9, 1.1), p_warp=1.0, gen=torch.Generator())
    assert warped.shape == x.shape and not torch.allclose(warped, x)


def test_devices_share_the_batches_and_agree(setup):
    """Batches spread over several model copies (here two CPU ones, as two GPUs would be)
    give the same pictures as one device: each batch has its own seed."""
    model, capture, start = setup
    config = FeatVisConfig(steps=3, batch_size=2, jitter=2, p_warp=0.5)
    one = visualize(model, capture, CONV2, start, range(8), mean=MEAN, std=STD, config=config)
    twin = copy.deepcopy(model)  # the engine's per-device copies keep the recording hooks
    both_working = threading.Barrier(2)  # each copy's first step waits for the other: both take batches
    first_step = {}

    def meet(module, inputs):
        if threading.current_thread() is not threading.main_thread() and id(module) not in first_step:
            first_step[id(module)] = True
            both_working.wait(timeout=60)

    handles = [m.register_forward_pre_hook(meet) for m in (model, twin)]
    try:
        two = visualize([model, twin], capture, CONV2, start, range(8), mean=MEAN, std=STD, config=config)
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(one, two)
    assert len(first_step) == 2  # both copies worked


class _SmallMemory(nn.Module):
    """A model on a device that holds three images at most (what an out-of-memory GPU does)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        if x.shape[0] > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def test_batch_shrinks_until_it_fits():
    model = _SmallMemory(_model())
    layers = [LayerSpec(pos=(0, 0), name="conv2", source="inner.2")]
    capture = HookCapture(model, layers)
    start = torch.rand(3, 24, 24)
    images = visualize(model, capture, 0, start, range(7), mean=None, std=None, config=FeatVisConfig(steps=2))
    capture.close()
    assert images.shape == (7, 3, 24, 24)
    with pytest.raises(torch.cuda.OutOfMemoryError):  # a fixed batch size is the user's choice: no retry
        capture = HookCapture(model, layers)
        visualize(model, capture, 0, start, range(7), mean=None, std=None, config=FeatVisConfig(steps=2, batch_size=4))
    capture.close()


def test_channels_last_copy_gives_the_same_pictures(setup):
    """The service's channels-last copy (faster convolutions, on a CPU too) changes
    the memory format only; the model handed in is never converted."""
    model, capture, start = setup
    fast = prepare_model(copy.deepcopy(model), "cpu", channels_last=True)
    assert is_channels_last(fast) and not is_channels_last(model)
    config = FeatVisConfig(steps=6, batch_size=8)
    plain = visualize(model, capture, CONV2, start, range(8), mean=MEAN, std=STD, config=config)
    nhwc = visualize(fast, capture, CONV2, start, range(8), mean=MEAN, std=STD, config=config)
    # rounding differences change pixels; the objective reached must not change
    before = _channel_values(model, capture, CONV2, start)[0, :8]
    reached = [_channel_values(model, capture, CONV2, images.float() / 255)[range(8), range(8)] for images in (plain, nhwc)]
    assert all(r.mean() > 2 * before.mean() for r in reached), (before, reached)
    assert abs(float(reached[0].mean() / reached[1].mean()) - 1) < 0.25
    assert not is_channels_last(model)


def test_redirected_relu_moves_a_channel_dead_on_the_start_picture():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.fill_(-2.0)  # on a dark start picture every pre-activation is negative: no gradient
    for param in model.parameters():
        param.requires_grad_(False)
    copy_ = prepare_model(copy.deepcopy(model), "cpu", channels_last=False)
    capture = HookCapture(copy_, [LayerSpec(pos=(0, 0), name="relu", source="1")])
    start = torch.full((3, 8, 8), 0.2)
    still = FeatVisConfig(steps=16, blend=0.0, redirect_steps=0)  # blur and roll leave a flat picture as it is
    plain = visualize(copy_, capture, 0, start, [0], mean=None, std=None, config=still)
    redirected = visualize(copy_, capture, 0, start, [0], mean=None, std=None,
                           config=replace(still, redirect_steps=12))
    assert torch.equal(plain[0], (start * 255).round().to(torch.uint8))  # never moved
    with torch.no_grad():
        _, acts = capture.run(copy_, redirected.float() / 255)
    assert acts[0][0, 0].mean() > 0.1  # alive now
    assert all(p.grad is None for p in copy_.parameters())
    capture.close()


def _bn_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    with torch.no_grad():  # running statistics far from the identity, as after training
        for bn in (model[1], model[4]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def test_batchnorm_folded_where_it_computes_the_same():
    model = _bn_model()
    layers = [LayerSpec(pos=(0, 0), name="relu1", source="2"), LayerSpec(pos=(1, 0), name="relu2", source="5")]
    capture = HookCapture(model, layers)
    probe = torch.randn(1, 3, 12, 12)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = prepare_model(copy.deepcopy(model), "cpu", channels_last=False, capture=capture, probe=probe)
    assert "forward" in vars(folded[1]) and "forward" in vars(folded[4])  # both BatchNorms are the identity now
    x = torch.randn(5, 3, 12, 12)
    with torch.no_grad():
        _, want = capture.run(model, x)
        _, got = capture.run(folded, x)
    for a, b in zip(want, got, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the original is untouched
    assert "forward" not in vars(model[1])
    assert not any(p.requires_grad for p in folded.parameters())
    capture.close()


def test_batchnorm_whose_input_is_recorded_stays():
    model = _bn_model()
    layers = [LayerSpec(pos=(0, 0), name="conv1", source="0"), LayerSpec(pos=(1, 0), name="relu2", source="5")]
    capture = HookCapture(model, layers)  # conv1's own output is shown: its BatchNorm must stay
    folded = prepare_model(copy.deepcopy(model), "cpu", channels_last=False, capture=capture,
                           probe=torch.randn(1, 3, 12, 12))
    assert "forward" not in vars(folded[1]) and "forward" in vars(folded[4])
    capture.close()
