"""Real photos shipped inside installed packages, for the offline demo.

Sources (all bundled files, nothing is downloaded; scikit-image's
pooch-fetched images are deliberately not used):

* scikit-image ``skimage.data`` (files in ``skimage/data/``),
* scikit-learn ``load_sample_images()`` (``china.jpg``, ``flower.jpg``).

``load_photos()`` returns ``(PIL RGB image, label)`` pairs; each photo is its
own class, named by ``label``.  Grayscale photos are converted to RGB.  Photos
keep their original size unless a side exceeds ``MAX_SIDE``, in which case
they are downscaled keeping the aspect ratio (to keep the dataset page small).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

__all__ = ["MAX_SIDE", "PHOTOS", "class_names", "load_photos"]

#: Longest side a photo may have; larger ones are downscaled to this.
MAX_SIDE = 320  # keeps the dataset page (all photos as PNG) near the original's 2.4 MB


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[index] if index is not None else image

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


#: (label, loader) for every photo, in dataset order.
PHOTOS: tuple[tuple[str, Callable[[], np.ndarray]], ...] = (
    ("cat (chelsea)", _skimage("chelsea")),
    ("coffee", _skimage("coffee")),
    ("rocket launch", _skimage("rocket")),
    ("astronaut", _skimage("astronaut")),
    ("cameraman", _skimage("camera")),
    ("motorcycle", _skimage("stereo_motorcycle", 0)),
    ("coins", _skimage("coins")),
    ("clock (motion blur)", _skimage("clock")),
    ("chinese pagoda", _sklearn("china.jpg")),
    ("flower", _sklearn("flower.jpg")),
    ("moon surface", _skimage("moon")),
    ("hubble deep field", _skimage("hubble_deep_field")),
    ("retina", _skimage("retina")),
    ("immunohistochemistry", _skimage("immunohistochemistry")),
    ("cell in saline", _skimage("cell")),
    ("brick wall", _skimage("brick")),
    ("grass", _skimage("grass")),
    ("gravel", _skimage("gravel")),
    ("printed page", _skimage("page")),
    ("text (photographed at an angle)", _skimage("text")),
)


def class_names() -> list[str]:
    """The dataset's class names (one class per photo), in label-id order."""
    return [label for label, _ in PHOTOS]


def _to_pil(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def load_photos() -> list[tuple[Image.Image, str]]:
    """All demo photos as ``(RGB PIL image, label)`` pairs."""
    return [(_to_pil(load()), label) for label, load in PHOTOS]
