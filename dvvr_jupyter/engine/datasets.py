"""Datasets as the VR client sees them: a page of raw images with labels.

The client shows a dataset as thumbnails and addresses images by their index
in that page, so a dataset here is a fixed *page* of at most ``max_images``
items drawn evenly from the underlying data.  Raw images (what thumbnails
show) and their PNGs are made once and cached.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import NotFound, Unprocessable
from .encode import pil_png

log = logging.getLogger("dvvr.datasets")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_MAX_IMAGES = 16


def to_pil(image) -> Image.Image:
    """A raw dataset image (PIL, CHW tensor or HWC array) as an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        data = image.detach().cpu()
        if data.dim() == 2:
            data = data.unsqueeze(0)
        if data.dim() != 3:
            msg = f"a tensor image must be CHW, got shape {tuple(image.shape)}"
            raise TypeError(msg)
        if data.dtype != torch.uint8:
            data = data.float()
            low, high = float(data.min()), float(data.max())
            if low < 0.0 or high > 1.0:  # already normalised: stretch for display
                data = (data - low) / max(high - low, 1e-12)
            data = (data * 255).round().clamp(0, 255).to(torch.uint8)
        if data.shape[0] == 1:
            data = data.expand(3, -1, -1)
        return Image.fromarray(data[:3].permute(1, 2, 0).numpy())
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    msg = f"a dataset image must be a PIL image, a CHW tensor or an array, got {type(image).__name__}"
    raise TypeError(msg)


def _split_item(item):
    if isinstance(item, dict):
        return item["data"], int(item.get("label", 0))
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], int(item[1])
    return item, 0


_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^/\\\s'\"]+)+[/\\]([^/\\\s'\"]+)")


def file_names_only(text: str) -> str:
    """``text`` with absolute paths cut to their file names: an answer to a
    client (any token holder) does not show where the server keeps its data."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


class Dataset:
    """A page of images for the VR client.

    ``data``: any torch Dataset or sequence yielding ``(image, label)`` or
    ``{"data": image, "label": label}``; image is a PIL image or a CHW tensor.
    ``class_names`` defaults to ``data.classes`` when it has them.
    """

    def __init__(self, data, class_names: Sequence[str] | None = None, *, name: str | None = None,
                 max_images: int = DEFAULT_MAX_IMAGES):
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            msg = f"dataset must be indexable with a length (a torch Dataset or a sequence), got {type(data).__name__}"
            raise TypeError(msg)
        self.data = data
        self.name = name or getattr(data, "name", None) or ("images" if isinstance(data, (list, tuple)) else type(data).__name__)
        total = len(data)
        count = min(total, max_images)
        # Evenly spread over the data, so a class-sorted folder shows many classes.
        self.indices = [int(i) for i in np.linspace(0, total - 1, count).round()] if count else []
        if class_names is None:
            class_names = getattr(data, "classes", None)
        self._class_names = list(class_names) if class_names is not None else None
        self._lock = threading.Lock()
        self._items: dict[int, tuple[Image.Image, int]] = {}
        self._pngs: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def item(self, image_id: int) -> tuple[Image.Image, int]:
        """Raw RGB image and label of page entry ``image_id``."""
        if not 0 <= image_id < len(self.indices):
            msg = f"imageID {image_id} is out of range: dataset {self.name!r} has {len(self.indices)} images (0..{len(self.indices) - 1})"
            raise NotFound(msg, field="imageID")
        with self._lock:
            cached = self._items.get(image_id)
        if cached is None:
            try:
                image, label = _split_item(self.data[self.indices[image_id]])
                cached = (to_pil(image), label)
            except (OSError, ValueError, SyntaxError) as exc:  # a missing, unreadable or truncated file
                msg = (f"image {image_id} of dataset {self.name!r} cannot be read ({type(exc).__name__}: "
                       f"{file_names_only(str(exc))})")
                raise Unprocessable(msg, field="imageID") from exc
            with self._lock:
                self._items[image_id] = cached
        return cached

    @property
    def class_names(self) -> list[str]:
        if self._class_names is not None:
            return self._class_names
        return [f"class {i}" for i in range(max(self.labels(), default=-1) + 1)]

    def labels(self) -> list[int]:
        """The label of every page entry (an unreadable image keeps its folder's)."""
        labels = []
        for i in range(len(self)):
            try:
                labels.append(self.item(i)[1])
            except Unprocessable:
                label_of = getattr(self.data, "label", None)
                labels.append(label_of(self.indices[i]) if label_of is not None else 0)
        return labels

    def png(self, image_id: int) -> bytes:
        """PNG of page entry ``image_id`` at its original size (made once); an
        unreadable image shows as a gray square (one warning), so the client's
        page still loads."""
        with self._lock:
            cached = self._pngs.get(image_id)
        if cached is None:
            try:
                image = self.item(image_id)[0]
            except Unprocessable as exc:
                log.warning("%s; the client's page shows a gray square in its place", exc.message)
                image = Image.new("RGB", (64, 64), (128, 128, 128))
            cached = pil_png(image)
            with self._lock:
                self._pngs[image_id] = cached
        return cached

    def __repr__(self) -> str:
        return f"<dvvr Dataset {self.name!r}: {len(self)} images, {len(self.class_names)} classes>"


class _FolderItems:
    def __init__(self, files: list[tuple[Path, int]]):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        path, label = self.files[index]
        with Image.open(path) as image:
            return image.convert("RGB"), label

    def label(self, index) -> int:
        return self.files[index][1]


class ImageFolder(Dataset):
    """A folder of class sub-folders (the Caltech-101 layout).

    Class names are the sorted folder names; ``skip`` folders (Caltech's
    ``BACKGROUND_Google`` clutter class) are left out.
    """

    def __init__(self, root, *, name: str | None = None, max_images: int = DEFAULT_MAX_IMAGES,
                 skip: Sequence[str] = ("BACKGROUND_Google",)):
        root = Path(root)
        if not root.is_dir():
            msg = f"image folder {str(root)!r} does not exist or is not a directory"
            raise FileNotFoundError(msg)
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in skip)
        if not classes:
            msg = f"image folder {str(root)!r} has no class sub-folders"
            raise ValueError(msg)
        files = [
            (path, label)
            for label, cls in enumerate(classes)
            for path in sorted((root / cls).iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        super().__init__(_FolderItems(files), classes, name=name or root.name, max_images=max_images)
        self.root = root


def as_dataset(data, class_names=None) -> Dataset:
    """Wrap what a user passes to ``attach`` (a Dataset, a folder path, a sequence)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        return ImageFolder(data)
    return Dataset(data, class_names)
