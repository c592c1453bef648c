"""Building a network's ``Input`` from what a person or the client names:
an image index, a PIL image, a tensor, or a source (``dvvr.DatasetImage``
etc.), transformed by the network's input pipeline."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import BadRequest
from .inputs import (
    SOURCES,
    Blank,
    CustomImage,
    DatasetImage,
    FeatVisImage,
    Input,
    InputTensor,
    NoiseImage,
)


def as_source(network, what):
    """The source ``what`` names for ``network`` (an int is an image of its dataset)."""
    if isinstance(what, SOURCES):
        return what
    if isinstance(what, bool):
        pass  # True is an int in Python: not an image index
    elif isinstance(what, int):
        if network.dataset is None:
            msg = f"network {network.name!r} has no dataset: pass a PIL image or a tensor instead of an index"
            raise BadRequest(msg, field="imageID")
        return DatasetImage(network.dataset, what)
    elif isinstance(what, (Image.Image, np.ndarray)):
        return CustomImage(what)
    elif isinstance(what, torch.Tensor):
        return InputTensor(what)
    msg = (f"cannot show a {type(what).__name__}: pass an image index, a PIL image, a tensor or a "
           f"dvvr.DatasetImage / NoiseImage / FeatVisImage / Blank")
    raise TypeError(msg)


def default_source(dataset):
    """What a network shows before anything is chosen: its dataset's first image, else a blank."""
    return DatasetImage(dataset, 0) if dataset is not None and len(dataset) else Blank()


def input_key(source) -> tuple | None:
    """What identifies an input for sharing its result between views, or
    ``None`` for inputs that are not shared (pictures and tensors of one's own,
    feature visualizations, which change when regenerated)."""
    if isinstance(source, DatasetImage):
        return ("dataset", source.dataset, source.index)
    if isinstance(source, NoiseImage):
        _ = source.generator.current  # makes the first image if there is none yet
        return ("noise", source.generator, source.generator.version)
    if isinstance(source, Blank):
        return ("blank",)
    return None


def build_input(network, source) -> Input:
    """``source``'s ``Input`` for ``network``: the tensor it takes and the picture a person sees."""
    pipeline = network.pipeline
    if isinstance(source, DatasetImage):
        raw, _ = source.dataset.item(source.index)
        return Input(source, pipeline(raw), raw)
    if isinstance(source, NoiseImage):
        raw = source.generator.current
        return Input(source, pipeline(raw), raw)
    if isinstance(source, CustomImage):
        tensor = pipeline(source.image)
        return Input(source, tensor, pipeline.to_image(tensor))
    if isinstance(source, FeatVisImage):
        pixels = source.network.featvis.stored_channel(source.layer, source.channel)  # uint8 [3, H, W]
        if network.input_channels == 1:
            pixels = pixels.float().mean(0, keepdim=True)
        tensor = pipeline.from_pixels(pipeline.fit(pixels.float() / 255))
        return Input(source, tensor, pipeline.to_image(tensor))
    if isinstance(source, InputTensor):
        tensor = source.tensor.detach()
        if tensor.dim() == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]  # a batch of one
        if tensor.dim() not in (2, 3) or (tensor.dim() == 3 and tensor.shape[0] != network.input_channels):
            msg = (f"network {network.name!r} takes inputs of shape [{network.input_channels}, H, W] (a "
                   f"transformed image), got a tensor of shape {tuple(source.tensor.shape)}")
            raise ValueError(msg)
        tensor = pipeline.fit(tensor.float().cpu())
        return Input(source, tensor, pipeline.to_image(tensor))
    tensor = torch.zeros(network.input_channels, *network.input_size)
    return Input(source, tensor, pipeline.to_image(tensor))
