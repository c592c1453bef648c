"""Feature visualization on CUDA: bf16 autocast and channels-last keep the
objective rising, and batches spread over every visible GPU.  Skipped where
no GPU is present (the same code paths run on CPU devices in tests/engine)."""

import pytest
import torch
from torch import nn

from dvvr_jupyter.engine.capture import HookCapture
from dvvr_jupyter.engine.featvis.config import FeatVisConfig
from dvvr_jupyter.engine.featvis.method import visualize
from dvvr_jupyter.engine.layers import LayerSpec

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")]
LAYERS = [LayerSpec(pos=(0, 0), name="conv2", source="2")]


def _model(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
    model = model.eval().to(device)
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def _values(model, capture, pixels):
    with torch.no_grad():
        _, acts = capture.run(model, pixels.to(next(model.parameters()).device))
    return acts[0].float().flatten(2).mean(2).cpu()


@pytest.mark.parametrize("fast", [True, False])
def test_autocast_and_channels_last_keep_the_objective(fast):
    model = _model("cuda")
    capture = HookCapture(model, LAYERS)
    start = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(1))
    config = FeatVisConfig(steps=16, autocast=fast, channels_last=fast)
    images = visualize(model, capture, 0, start, range(32), mean=None, std=None, config=config)
    before = _values(model, capture, start.unsqueeze(0))[0]
    after = _values(model, capture, images.float() / 255)
    assert (after.diagonal() > before).all()
    assert all(p.grad is None for p in model.parameters())
    capture.close()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_batches_spread_over_two_gpus():
    models = [_model("cuda:0"), _model("cuda:1")]
    capture = HookCapture(models[0], LAYERS)
    capture_twin = HookCapture(models[1], LAYERS)  # the same recorder slot: one capture serves both
    start = torch.rand(3, 48, 48)
    config = FeatVisConfig(steps=4, batch_size=8)
    two = visualize(models, capture, 0, start, range(32), mean=None, std=None, config=config)
    one = visualize(models[0], capture, 0, start, range(32), mean=None, std=None, config=config)
    assert two.shape == one.shape == (32, 3, 48, 48)
    assert (two.float() - one.float()).abs().mean() < 2  # same seeds per batch; GPUs differ only in rounding
    capture.close()
    capture_twin.close()
