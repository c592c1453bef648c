"""The user's model is exactly as before after any sequence of requests."""

import json

import pytest
import torch
import torchvision

import tiny


def fingerprint(model):
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad is None for p in model.parameters()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()
        ],
    }


def assert_same(before, after):
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["grads"] == after["grads"]
    assert before["hooks"] == after["hooks"]
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key  # bit-identical, BatchNorm stats included


def run_everything(client, n_layers):
    client.start_up()
    layers = client.get("network/0")["architecture"]
    for choice in ({"mode": 1, "imageID": 1}, {"mode": 4}, {"mode": 0}):
        client.switch(0, layers, choice)
    client.put("network/0/setnetworkgenfeatvis")
    client.get("network/0/featurevisualization/layerid/1")
    client.put("network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 1, "channelID": 2}))
    client.put("network/0/export/layerid/1", json.dumps({"mode": 2, "layerID": 1}))


def test_tracker_model_in_train_mode_is_untouched(session, serve, client_for):
    from dvvr import FeatVisConfig

    model = tiny.TinyTracked().train()
    model.conv2.weight.requires_grad_(False)  # a frozen layer stays frozen, the rest stays trainable
    before = fingerprint(model)
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 36))
    network.featvis.config = FeatVisConfig(steps=3, batch_size=8)
    run_everything(client_for(serve(session).url), len(network.layers))
    assert_same(before, fingerprint(model))


def test_torchvision_resnet18_in_train_mode_served_with_dvvr_serve(tmp_path, monkeypatch):
    """The Done-when case: dvvr.attach + dvvr.serve(port=0) on the default session."""
    import dvvr
    from dvvr import FeatVisConfig
    from dvvr_jupyter.engine import session as session_module
    from dvvr_jupyter.protocol.client import VRClient

    monkeypatch.setattr(session_module, "_default", session_module.Session(cache_dir=tmp_path))
    model = torchvision.models.resnet18(weights=None, num_classes=10).train()
    before = fingerprint(model)
    network = dvvr.attach(model, tiny.tiny_images(), class_names=[str(i) for i in range(10)], input_size=(64, 64))
    network.featvis.config = FeatVisConfig(steps=2, batch_size=64)
    server = dvvr.serve(port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        client = VRClient(server.url)
        run_everything(client, len(network.layers))
        client.close()
    finally:
        server.stop()
        session_module._default.close()
    assert_same(before, fingerprint(model))


def test_training_between_requests_is_followed_not_disturbed(session):
    """The VR view follows the live weights; training is unaffected by the engine."""
    model = tiny.TinyTracked().train()
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 36))
    first = network.result().activation(1).clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randn(4, 3, 32, 36)
    loss = model(x).logsumexp(1).mean()
    loss.backward()
    optimizer.step()
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    second = network.refresh().activation(1)
    assert not torch.equal(first, second)  # the view follows training
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key])
    assert model.training and all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_watch_follows_training_without_touching_it(session):
    from dvvr_jupyter.engine.watch import Watcher

    model = tiny.TinyTracked().train()
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 36))
    first = network.result().id
    watcher = Watcher([network], every_n_steps=3, pool=session.pool)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 8):
        loss = model(torch.randn(4, 3, 32, 36)).logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        watcher.step()
        watcher.wait(30)  # a refresh still running when the next one is due is skipped, not queued
        if step == 6:
            weights_at_6 = model.conv1.weight.detach().clone()
    watcher.wait(30)
    assert watcher.refreshes == 2 and network.result().id > first
    assert torch.equal(network.shadow.model.conv1.weight, weights_at_6)  # copied between steps, not torn
    assert not torch.equal(model.conv1.weight, weights_at_6)  # ...while training went on
    assert model.training
    with pytest.raises(ValueError, match="every_n_steps"):
        Watcher([network], every_n_steps=0, pool=session.pool)


def test_vision_transformer_in_train_mode_is_untouched(session, serve, client_for):
    """Tokens, class tokens and attention recomputed from the attention
    modules, feature visualization of a head: weights, modes, hooks and RNG
    states stay as they were (dropout in train mode draws from the RNG)."""
    from torchvision.models.vision_transformer import VisionTransformer

    from dvvr import FeatVisConfig

    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=3, dropout=0.1, attention_dropout=0.1).train()
    before, rng = fingerprint(model), torch.get_rng_state()
    network = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 32))
    network.featvis.config = FeatVisConfig(steps=2, batch_size=8)
    client = client_for(serve(session).url)
    run_everything(client, len(network.layers))
    sizes = {layer["layer_name"]: layer["size"] for layer in client.get("network/0")["architecture"]}
    attention = next(layer for layer in network.layers if layer.name.endswith(" attention"))
    assert sizes[attention.name] == [1, 2, 4, 4]
    assert sizes["encoder.layers.encoder_layer_0 EncoderBlock"] == [1, 16, 4, 4]
    pictures = network.featvis.start(attention).future.result(timeout=120)
    assert tuple(pictures.shape) == (2, 3, 32, 32)
    assert_same(before, fingerprint(model))
    assert torch.equal(rng, torch.get_rng_state())
