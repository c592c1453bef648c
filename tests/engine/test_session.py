"""Attaching models to a session: names, ids, copies, and layer checks."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

import dvvr
from dvvr import TrackerModule

import tiny


def test_two_models_of_one_class_are_shown_side_by_side(session):
    first = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
    second = session.attach(tiny.TinyTracked(), session.datasets[0], input_size=(32, 36))
    assert (first.name, second.name) == ("TinyTracked", "TinyTracked (2)")
    assert [n.id for n in session.networks] == [0, 1]


def test_a_model_holding_a_graph_tensor_can_be_attached(session):
    class Remembers(tiny.TinyTracked):
        def forward(self, x):
            self.last = super().forward(x)  # a tensor with a grad_fn, kept on the module
            return self.last

    model = Remembers()
    model(torch.randn(1, 3, 32, 36))
    network = session.attach(model, tiny.tiny_images(), input_size=(32, 36))
    assert network.result().output.shape == (1, 3) and model.last.grad_fn is not None


class TwoAtOnePos(nn.Module):
    def __init__(self, second_pos=(1, 0), precursor=(0, 0)):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.t_in = TrackerModule((0, 0), "Input")
        self.t_a = TrackerModule((1, 0), "First", self.conv, precursors=[(0, 0)])
        self.t_b = TrackerModule(second_pos, "Second", precursors=[precursor])

    def forward(self, x):
        x = self.t_a(self.conv(self.t_in(x)))
        return self.t_b(torch.relu(x))


def test_tracker_modules_sharing_a_pos_are_refused_at_attach(session):
    with pytest.raises(ValueError, match=r"'First' and 'Second' share pos \(1, 0\)"):
        session.attach(TwoAtOnePos(), tiny.tiny_images(), input_size=(16, 16))
    with pytest.raises(ValueError, match=r"'Second' at \(2, 0\) names precursors \[\(5, 5\)\]"):
        session.attach(TwoAtOnePos((2, 0), (5, 5)), tiny.tiny_images(), input_size=(16, 16))
    assert session.networks == []
    assert len(session.attach(TwoAtOnePos((2, 0)), tiny.tiny_images(), input_size=(16, 16)).layers) == 3


def test_the_python_level_view(tiny_session):
    network = tiny_session.networks[0]
    assert [layer.kind for layer in network.layers] == [
        "feature_map", "feature_map", "info", "feature_map", "feature_map", "feature_map", "vector", "vector"]
    conv = network.layer("Conv1")
    assert network.layer(1) is conv and network.layer("t_conv1") is conv  # by id, name or module
    assert conv.shape == (8, 32, 36) and conv.channels == 8 and conv.weight_module == "conv1"
    assert network.layer(7).shows_class_names and not conv.shows_class_names
    result = network.set_input(4)
    assert result.input.source == dvvr.DatasetImage(network.dataset, 4) and network.input is result.input
    assert result.input.image is network.dataset.item(4)[0]  # the raw picture, for people
    assert result.input.tensor.shape == (3, 32, 36)  # the network's input
    assert result.activation(conv).shape == (8, 32, 36)
    images = result.channel_images("Conv1")
    assert images.pixels.shape == (8, 32, 36) and len(images.pngs) == 8 and 0 <= images.zero_value <= 255
    assert sum(result.histogram(conv).counts) == 8 * 32 * 36
    assert sum(network.weight_histogram(conv).counts) == 8 * 3 * 3 * 3
    assert network.weight_histogram("Skip") is None
    names = [name for name, _ in result.top_classes()]
    assert sorted(names) == sorted(tiny.CLASSES)
    with pytest.raises(dvvr_errors().BadRequest, match="info panel"):
        result.activation("Block")
    with pytest.raises(dvvr_errors().NotFound, match="no layer is named"):
        network.layer("nope")


def dvvr_errors():
    from dvvr_jupyter import errors

    return errors


def test_inputs_of_every_kind(tiny_session):
    from PIL import Image

    network = tiny_session.networks[0]
    blank = network.set_input(dvvr.Blank())
    assert float(blank.input.tensor.abs().sum()) == 0
    noise = network.set_input(dvvr.NoiseImage(tiny_session.noise_generators[0]))
    assert noise.input.image is tiny_session.noise_generators[0].current
    photo = network.set_input(Image.new("RGB", (50, 40), "red"))  # a picture of one's own: resized
    assert photo.input.tensor.shape == (3, 32, 36) and photo.input.describe() == "an image of your own"
    tensor = network.set_input(torch.ones(3, 32, 36))  # already a network input
    assert torch.equal(tensor.input.tensor, torch.ones(3, 32, 36))
    with pytest.raises(TypeError, match="cannot show a dict"):
        network.set_input({"mode": 1})


def test_attach_options_are_written_once():
    from dvvr_jupyter.engine.options import AttachOptions

    names = ["name", "class_names", "transform", "input_size", "softmax", "track", "device"]
    assert list(inspect.signature(dvvr.attach).parameters) == ["model", "dataset", *names]
    assert [f for f in AttachOptions.__dataclass_fields__] == names
    with pytest.raises(TypeError, match="unknown option"):
        dvvr.Session().attach(tiny.TinyTracked(), inputsize=(3, 3))


def test_trackable_modules_pairs_with_track():
    model = tiny.TinyTracked()
    names = dvvr.trackable_modules(model)
    assert "conv1" in names and "fc" in names and "" not in names
    with pytest.raises(ValueError, match=r"see dvvr.trackable_modules\(model\)"):
        dvvr.Session().attach(model, track=["conv9"], input_size=(16, 16))


def test_every_public_name_is_documented():
    undocumented = [name for name in dvvr.__all__ if name != "__version__" and not getattr(dvvr, name).__doc__]
    assert undocumented == []


GATE = threading.Event()
HELD = threading.Event()


def gated_transform(image):
    """Holds a white picture until GATE is set (a slow input, before any lock of the engine)."""
    from torchvision.transforms import functional as TF

    tensor = TF.to_tensor(image)
    if float(tensor.mean()) > 0.99:
        HELD.set()
        GATE.wait(120)
    return tensor


def test_inputs_are_shown_in_the_order_asked_for(session):
    from PIL import Image

    net = session.attach(nn.Sequential(nn.Conv2d(3, 4, 3)), tiny.tiny_images(), input_size=(16, 16),
                         transform=gated_transform)
    net.set_input(0)
    assert net.precompute(1)  # image 1 is answered from memory
    GATE.clear()
    HELD.clear()
    white = Image.new("RGB", (16, 16), (255, 255, 255))
    slow = session.pool.submit(net.set_input, white, origin="vr")  # asked first, held
    assert HELD.wait(60), "the slow input did not start"
    fast = net.set_input(1, origin="vr")  # asked second, answered first
    GATE.set()
    slow_result = slow.result(timeout=120)
    assert slow_result.input.describe() != fast.input.describe()
    assert net.result() is fast  # the later choice stays shown
    net.refresh()
    assert net.result().input.describe() == fast.input.describe()


def test_re_running_a_cell_replaces_instead_of_piling_up(session, tmp_path):
    # A notebook cell run three times: one network, dataset and noise generator set, as the user expects.
    from dvvr_jupyter.engine.project import load_project

    import tiny

    project = tmp_path / "project.py"
    project.write_text(tiny.PROJECT_SOURCE.format(tests=str(Path(tiny.__file__).parent)))
    for _ in range(3):
        networks = load_project(project, session)
    assert [len(session.networks), len(session.datasets), len(session.noise_generators)] == [1, 1, 2]
    assert session.networks[0] is networks[0] and networks[0].dataset is session.datasets[0]

    model = tiny.TinyTracked()
    for _ in range(3):  # the same model with a fresh dataset object each run
        attached = session.attach(model, tiny.tiny_images(), class_names=tiny.CLASSES, input_size=(32, 36))
    assert [len(session.networks), len(session.datasets)] == [2, 2]
    assert attached.dataset is session.datasets[1]
    # a dataset shared with another network stays
    other = session.attach(tiny.TinyTracked(), attached.dataset, input_size=(32, 36))
    session.attach(model, tiny.tiny_images(), input_size=(32, 36))
    assert len(session.datasets) == 3 and other.dataset in session.datasets
