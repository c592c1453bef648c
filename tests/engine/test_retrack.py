"""Network.retrack: other modules under the same id, the old layers never mixed in."""

import pytest
import torch

from dvvr_jupyter.engine.events import NetworksChanged


def test_retrack_replaces_the_layers_and_recomputes(tiny_session):
    network = tiny_session.networks[0]
    network.set_input(2)
    before = network.result()
    events = []
    tiny_session.events.subscribe(events.append, NetworksChanged)
    network.retrack(["conv1", "conv2"])
    after = network.result()
    assert [layer.name for layer in network.layers] == ["Input", "conv1", "conv2"]
    assert after is not before and after.layers is network.layers and after.input is before.input
    assert after.channel_images("conv2").pixels.shape == (8, 32, 36)
    network.set_input(0)
    network.set_input(2)  # a cached result of the old layers is never shown again
    assert network.result().layers is network.layers
    tiny_session.events.flush()
    assert [e.change for e in events] == ["retracked"]


def test_a_bad_track_keeps_the_old_layers(tiny_session):
    network = tiny_session.networks[0]
    layers = network.layers
    with pytest.raises(ValueError, match="does not have"):
        network.retrack(["nope"])
    assert network.layers is layers
    result = network.refresh()  # the old hooks record again
    assert torch.equal(result.activation(1), network.result().activation(1))
    assert result.activation("Conv2").shape == (8, 32, 36)
