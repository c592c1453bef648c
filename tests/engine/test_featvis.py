"""Feature visualization: gradient ascent on a tiny CNN, and its on-disk store."""

from __future__ import annotations

import logging
import threading

import pytest
import torch
from torch import nn

from dvvr_jupyter.engine.capture import HookCapture
from dvvr_jupyter.engine.featvis import FeatVisCancelled, FeatVisConfig, visualize
from dvvr_jupyter.engine.featvis_store import FeatVisStore
from dvvr_jupyter.engine.layers import LayerSpec

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
FAST = FeatVisConfig(steps=8, lr=0.05, batch_size=4, jitter=2)
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
    with caplog.at_level(logging.INFO, logger="dvvr.featvis"):
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda(setup):
    model, _, start = setup
    model = model.cuda()
    capture = HookCapture(model, LAYERS)
    images = visualize(model, capture, CONV2, start.cuda(), range(4), mean=MEAN, std=STD, config=FAST)
    capture.close()
    assert images.shape == (4, 3, 24, 24) and images.dtype == torch.uint8


def _images(n=4, seed=0):
    return torch.randint(0, 256, (n, 3, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_store_roundtrip(tmp_path):
    store = FeatVisStore(tmp_path / "net")
    assert store.load(2) is None and not store.has(2) and store.channel(2, 0) is None
    images = _images()
    store.save(2, images)
    store.save(3, _images(2, seed=1))
    assert store.has(2) and torch.equal(store.load(2), images)
    assert torch.equal(store.channel(2, 1), images[1])
    assert store.channel(2, 4) is None and store.channel(2, -1) is None
    assert sorted(p.name for p in (tmp_path / "net").iterdir()) == ["layer_2.npy", "layer_3.npy"]  # no temps
    store.delete_all()
    assert not store.has(2) and not store.has(3) and store.load(3) is None


def test_store_rejects_wrong_dtype(tmp_path):
    with pytest.raises(ValueError):
        FeatVisStore(tmp_path).save(0, torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("keep", [0, 40, 200])
def test_store_corrupt_file_is_missing(tmp_path, caplog, keep):
    store = FeatVisStore(tmp_path)
    store.save(1, _images())
    path = tmp_path / "layer_1.npy"
    path.write_bytes(path.read_bytes()[:keep])  # a partial write
    with caplog.at_level(logging.WARNING, logger="dvvr.featvis"):
        assert store.load(1) is None
    assert not path.exists() and "unreadable" in caplog.text
    store.save(1, _images())
    path.write_bytes(path.read_bytes()[:keep])
    assert store.channel(1, 0) is None and not path.exists()


def test_store_concurrent(tmp_path):
    store = FeatVisStore(tmp_path)
    errors = []

    def work(seed):
        try:
            for i in range(20):
                images = _images(3, seed)
                store.save(i % 3, images)
                loaded = store.load(i % 3)
                assert loaded is not None and loaded.shape == (3, 3, 6, 5)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer_0.npy", "layer_1.npy", "layer_2.npy"]
