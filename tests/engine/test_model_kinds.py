"""Models and inputs beyond 3-channel float32 classifiers: gray-input nets,
half precision, torch's own weight reparametrisations, control flow, extra
state, and the checks on attach options and feature-visualization settings."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms

import dvvr


class GrayDataset(torch.utils.data.Dataset):
    """Four 28×28 gray images, as MNIST gives them (PIL mode "L")."""

    classes = [str(i) for i in range(10)]

    def __len__(self):
        return 4

    def __getitem__(self, index):
        pixels = (np.arange(28 * 28).reshape(28, 28) * (index + 1) % 256).astype(np.uint8)
        return Image.fromarray(pixels, "L"), index


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 5), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def small_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.Flatten(),
                         nn.Linear(4 * 16 * 16, 5))


def test_gray_input_network_from_its_dataset(session):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.13,), (0.31,))])
    model = lenet().eval()
    net = session.attach(model, GrayDataset(), transform=transform)
    assert net.input_channels == 1
    result = net.set_input(1)
    assert result.input.tensor.shape == (1, 28, 28)
    with torch.no_grad():
        want = model(transform(GrayDataset()[1][0]).unsqueeze(0))[0]
    assert torch.allclose(result.output[0], want, atol=1e-5)
    # a colour photo, an RGBA picture and noise are turned gray for it
    assert net.set_input(Image.new("RGBA", (40, 30), (200, 10, 10, 128))).input.tensor.shape == (1, 28, 28)
    assert net.set_input(dvvr.NoiseImage(session.noise_generators[0])).input.tensor.shape == (1, 28, 28)
    assert net.set_input(dvvr.Blank()).input.tensor.shape == (1, 28, 28)
    assert len(result.channel_images(net.layers[1]).pngs) == 6
    # feature visualization of a gray network: pictures of its input size, usable as its input
    net.featvis.config = dvvr.FeatVisConfig(steps=2)
    images = net.featvis.start(net.layers[1]).result(timeout=120)
    assert images.shape == (6, 3, 28, 28)
    assert net.set_input(dvvr.FeatVisImage(net, net.layers[1].id, 0)).input.tensor.shape == (1, 28, 28)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_models_of_other_dtypes(session, dtype):
    model = small_cnn().to(dtype).eval()
    net = session.attach(model, input_size=(16, 16))
    result = net.set_input(torch.rand(3, 16, 16))
    assert result.output.dtype == torch.float32  # encoded as float
    assert result.activation(net.layers[1]).dtype == torch.float32
    assert len(result.top_classes()) == 5
    assert net.weight_histogram(net.layers[1]) is not None
    assert next(model.parameters()).dtype == dtype  # the user's model kept its dtype


@pytest.mark.parametrize("reparametrise", ["weight_norm", "spectral_norm", "prune"])
def test_torch_reparametrisations_show_current_weights(session, reparametrise):
    torch.manual_seed(0)
    model = small_cnn()
    conv = model[2]
    if reparametrise == "weight_norm":
        with pytest.warns(FutureWarning):
            torch.nn.utils.weight_norm(conv)
    elif reparametrise == "spectral_norm":
        torch.nn.utils.spectral_norm(conv)
    else:
        torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.3)
    net = session.attach(model, input_size=(16, 16))
    x = torch.rand(3, 16, 16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):  # train: the reparametrised weight moves
        optimizer.zero_grad()
        model(x.unsqueeze(0)).sum().backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        want = model(x.unsqueeze(0))[0]
    model.train()
    got = net.set_input(x).output[0]
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4), (got, want)


def test_layer_not_reached_shows_zeros(session):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.a(x) if x.mean() > 0.5 else self.b(x)

    with pytest.warns(UserWarning, match="cannot trace"):  # traced on zeros: branch b is what it finds
        net = session.attach(Branchy(), input_size=(8, 8))
    result = net.set_input(torch.ones(3, 8, 8))  # takes branch a: b is never run
    b = net.layer("b")
    assert torch.equal(result.activation(b), torch.zeros(4, 8, 8))
    assert len(result.channel_images(b).pngs) == 4
    assert result.histogram(b) is not None


def test_extra_state_model_attaches(session):
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.conv(x)

        def get_extra_state(self):
            return {"epoch": 3}

        def set_extra_state(self, state):
            pass

    net = session.attach(WithExtra(), input_size=(8, 8))
    assert net.set_input(torch.rand(3, 8, 8)).activation(net.layers[-1]).shape[0] == 2


def test_tensor_inputs_checked(session):
    net = session.attach(small_cnn(), input_size=(16, 16))
    assert net.set_input(torch.rand(1, 3, 16, 16)).input.tensor.shape == (3, 16, 16)  # a batch of one
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        net.set_input(torch.rand(4, 16, 16))
    assert net.set_input(np.random.rand(20, 24, 3)).input.tensor.shape == (3, 16, 16)  # float HWC in [0, 1]


@pytest.mark.parametrize(("options", "message"), [
    ({"input_size": "32"}, "input_size"), ({"input_size": (32, 32, 3)}, "input_size"),
    ({"input_size": 32}, "input_size"), ({"input_size": (0, 32)}, "input_size"),
    ({"class_names": "abcd"}, "class_names"), ({"transform": 42}, "transform"), ({"softmax": "yes"}, "softmax"),
])
def test_attach_options_checked(session, options, message):
    with pytest.raises(TypeError, match=message):
        session.attach(small_cnn(), **options)


@pytest.mark.parametrize(("field", "value"), [
    ("steps", 0), ("steps", -1), ("steps", 2.5), ("steps", "3"), ("param", "bogus"), ("lr", -0.5),
    ("blur", -1), ("jitter", -2), ("p_warp", 2.0), ("plain_last", -1), ("batch_size", 0), ("cache_mb", -1),
    ("scale", (1.1, 0.9)), ("devices", ()),
])
def test_featvis_config_checked(field, value):
    with pytest.raises(ValueError, match=f"FeatVisConfig.{field}"):
        dvvr.FeatVisConfig(**{field: value})


def test_featvis_config_setter_checked(session):
    net = session.attach(small_cnn(), input_size=(16, 16))
    with pytest.raises(TypeError, match="FeatVisConfig"):
        net.featvis.config = "steps=3"
    net.featvis.config = dvvr.FeatVisConfig(steps=3)
    assert net.featvis.config.steps == 3
    assert copy.copy(net.featvis.config) == dvvr.FeatVisConfig(steps=3)


def test_unmaterialised_models_named(session):
    lazy = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="lazy module"):
        session.attach(lazy, input_size=(8, 8))
    with torch.device("meta"):
        meta = small_cnn()
    with pytest.raises(ValueError, match="meta"):
        session.attach(meta, input_size=(16, 16))


def test_model_keeping_graph_tensors_in_a_dict_attaches(session):
    model = small_cnn()
    model.acts = {}
    model[1].register_forward_hook(lambda module, args, out: model.acts.__setitem__("relu", [out]))
    model(torch.rand(2, 3, 16, 16)).sum()  # a training forward: acts holds a tensor of its graph
    assert model.acts["relu"][0].grad_fn is not None
    net = session.attach(model, input_size=(16, 16))
    assert net.set_input(torch.rand(3, 16, 16)).output.shape == (1, 5)
    assert model.acts["relu"][0].grad_fn is not None  # the user's dict is as it was


def test_compiled_model_followed_through_its_module(session):
    model = small_cnn()
    compiled = torch.compile(model, backend="eager")
    net = session.attach(compiled, input_size=(16, 16))
    x = torch.rand(3, 16, 16)
    with torch.no_grad():
        model[0].weight.add_(0.5)  # trained through either object: the same weights
        want = model.eval()(x.unsqueeze(0))[0]
    assert torch.allclose(net.set_input(x).output[0], want, atol=1e-5)
    net.featvis.config = dvvr.FeatVisConfig(steps=1)
    assert net.featvis.start(net.layers[-1]).result(timeout=120).shape[0] == 5


def test_a_gray_side_convolution_declared_first_does_not_decide_the_input(session):
    class SideFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.mask_conv = nn.Conv2d(1, 1, 1)  # declared first, used on a mask inside
            self.stem = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.stem(x) * torch.sigmoid(self.mask_conv(x.mean(1, keepdim=True)))

    net = session.attach(SideFirst(), input_size=(8, 8))
    assert net.input_channels == 3
    assert net.set_input(torch.rand(3, 8, 8)).output.shape == (1, 4, 8, 8)
