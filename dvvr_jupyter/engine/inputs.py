"""What a network is shown: where an input comes from, and the input itself.

A *source* says where an input comes from (a dataset image, a noise image,
a feature visualization, ...); ``Network.set_input`` turns it into an
``Input``: the tensor the network gets and the picture a person sees.  The
VR client's mode numbers are the protocol's business (``protocol/wire.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image


@dataclass(frozen=True)
class DatasetImage:
    """Image ``index`` of a dataset's page (what the client shows as thumbnails)."""

    dataset: Any
    index: int

    def describe(self) -> str:
        _, label = self.dataset.item(self.index)
        names = self.dataset.class_names
        label_name = names[label] if 0 <= label < len(names) else f"class {label}"
        return f"image {self.index} of {self.dataset.name!r} ({label_name})"


@dataclass(frozen=True)
class NoiseImage:
    """A noise generator's current image (``generator.generate()`` makes a new one)."""

    generator: Any

    def describe(self) -> str:
        return f"noise ({self.generator.name})"


@dataclass(frozen=True)
class FeatVisImage:
    """The stored feature visualization of ``network``'s ``layer``, ``channel``."""

    network: Any
    layer: int
    channel: int

    def describe(self) -> str:
        return f"feature visualization of {self.network.name!r} layer {self.layer} channel {self.channel}"


@dataclass(frozen=True)
class Blank:
    """An all-zero input."""

    def describe(self) -> str:
        return "blank (all zeros)"


@dataclass(frozen=True, eq=False)
class CustomImage:
    """A picture of the user's own (PIL image, HxWx3 array or CHW tensor),
    transformed as the network's dataset images are."""

    image: Any

    def describe(self) -> str:
        return "an image of your own"


@dataclass(frozen=True, eq=False)
class InputTensor:
    """A tensor that already is a network input ([C, H, W], transformed)."""

    tensor: torch.Tensor

    def describe(self) -> str:
        return f"a tensor of shape {tuple(self.tensor.shape)}"


Source = DatasetImage | NoiseImage | FeatVisImage | Blank | CustomImage | InputTensor
SOURCES = (DatasetImage, NoiseImage, FeatVisImage, Blank, CustomImage, InputTensor)


@dataclass(frozen=True, eq=False)
class Input:
    """What a network is shown: ``tensor`` (its input [C, H, W], on the CPU)
    and ``image`` (the picture a person sees: the raw dataset or noise image,
    or the input's pixels)."""

    source: Source
    tensor: torch.Tensor = field(repr=False)
    image: Image.Image = field(repr=False)

    def describe(self) -> str:
        return self.source.describe()
