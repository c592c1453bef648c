"""Turning raw images into network inputs, and network inputs back into pixels.

The transform is the user's (``attach(transform=...)``); a ``Normalize``
inside it is found so feature visualizations and other inputs can be shown
as pictures.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import functional as TF
from torchvision.transforms import v2

try:  # torchvision keeps the v1 API beside v2
    from torchvision.transforms import Normalize as NormalizeV1
except ImportError:  # pragma: no cover
    NormalizeV1 = ()


def find_normalize(transform) -> tuple[list[float], list[float]] | None:
    """``(mean, std)`` of the last Normalize inside a (Compose) transform."""
    found = None
    stack = [transform]
    while stack:
        item = stack.pop(0)
        if isinstance(item, (v2.Normalize, NormalizeV1)):
            found = (list(map(float, item.mean)), list(map(float, item.std)))
        stack.extend(getattr(item, "transforms", []) or [])
    return found


def array_to_image(array: np.ndarray) -> Image.Image:
    """An HW, HWC (C 1, 3 or 4) array as a PIL image; floats are read as
    values in [0, 1] (or 0..255 where larger)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        msg = f"an image array must be HxW or HxWx3 (or 4), got shape {array.shape}"
        raise ValueError(msg)
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        if np.nanmax(array, initial=0.0) <= 1.0:
            array = array * 255
        array = np.nan_to_num(array).clip(0, 255).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


class InputPipeline:
    """Raw image (PIL or tensor) -> network input tensor [C, H, W] of ``size``.

    PIL images are converted to the mode the network takes first (gray for
    one input channel, RGB otherwise): palette, RGBA and gray photos then
    reach the user's transform as its own dataset images do."""

    def __init__(self, transform, size: tuple[int, int] | None, normalize=None, channels: int = 3):
        self.transform = transform
        self.size = size
        self.normalize = normalize if normalize is not None else find_normalize(transform)
        self.mode = "L" if channels == 1 else "RGB"

    def __call__(self, raw) -> torch.Tensor:
        if isinstance(raw, np.ndarray):
            raw = array_to_image(raw)
        if isinstance(raw, Image.Image) and raw.mode != self.mode:
            raw = raw.convert(self.mode)
        if self.transform is not None:
            try:
                tensor = self.transform(raw)
            except TypeError:
                if not isinstance(raw, Image.Image):
                    raise
                # A transform written for tensors, fed a PIL image (noise).
                tensor = self.transform(TF.to_tensor(raw))
        elif isinstance(raw, Image.Image):
            tensor = TF.to_tensor(raw)
        elif isinstance(raw, torch.Tensor):
            tensor = raw.float() / 255 if raw.dtype == torch.uint8 else raw.float()
        else:
            msg = f"cannot turn a {type(raw).__name__} into a network input; pass transform="
            raise TypeError(msg)
        if not isinstance(tensor, torch.Tensor):
            msg = f"the transform must return a tensor, it returned {type(tensor).__name__}"
            raise TypeError(msg)
        return self.fit(tensor)

    def fit(self, tensor: torch.Tensor) -> torch.Tensor:
        """Resize a CHW tensor to the network's input size (architecture
        sizes must not change from one input to the next)."""
        if tensor.dim() == 2:
            tensor = tensor.unsqueeze(0)
        if self.size is not None and tuple(tensor.shape[-2:]) != tuple(self.size):
            tensor = F.interpolate(tensor.unsqueeze(0).float(), size=self.size, mode="bilinear",
                                   align_corners=False, antialias=True)[0]
        return tensor

    def to_pixels(self, tensor: torch.Tensor) -> torch.Tensor:
        """Network input -> displayable pixels in [0, 1] (undoes Normalize)."""
        tensor = tensor.detach().float()
        if self.normalize is not None:
            mean, std = (torch.tensor(v, device=tensor.device).view(-1, 1, 1) for v in self.normalize)
            tensor = tensor * std + mean
        return tensor.clamp(0, 1)

    def from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] -> network input (applies Normalize)."""
        if self.normalize is None:
            return pixels
        mean, std = (torch.tensor(v, device=pixels.device).view(-1, 1, 1) for v in self.normalize)
        return (pixels - mean) / std


    def to_image(self, tensor: torch.Tensor) -> Image.Image:
        """Network input -> a PIL image to look at (3 channels, or gray)."""
        pixels = (self.to_pixels(tensor.cpu()) * 255).round().to(torch.uint8)
        if pixels.shape[0] == 1:
            return Image.fromarray(pixels[0].numpy(), "L")
        return Image.fromarray(pixels[:3].permute(1, 2, 0).contiguous().numpy())
