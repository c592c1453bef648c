"""The seed's Caltech-101 demo: a ResNet-18 variant marked with TrackerModules.

Set ``CALTECH101_DIR`` to a Caltech-101 folder (``101_ObjectCategories``: one
sub-folder per class; ``BACKGROUND_Google`` is skipped) and optionally
``CALTECH101_WEIGHTS`` to a state dict file for the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision import transforms

import dvvr

INPUT_SIZE = (150, 175)
_HERE = Path(__file__).resolve().parent


def _folder() -> Path:
    value = os.environ.get("CALTECH101_DIR")
    if not value:
        raise FileNotFoundError("set CALTECH101_DIR to the Caltech-101 folder (101_ObjectCategories, "
                                "one sub-folder per class)")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"CALTECH101_DIR={value!r}: no such folder")
    return path


_dataset = None


def get_datasets():
    global _dataset
    if _dataset is None:
        _dataset = dvvr.ImageFolder(_folder(), name="Caltech-101")
    return [_dataset]


def get_dl_networks():
    model = dvvr.import_file(_HERE / "resnet.py").ResNet(blocks=(2, 1, 1, 1), n_classes=len(get_datasets()[0].class_names))
    weights = os.environ.get("CALTECH101_WEIGHTS")
    if weights:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"CALTECH101_WEIGHTS={weights!r}: no such file")
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    transform = transforms.Compose([
        transforms.Resize(INPUT_SIZE),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    return [{"model": model, "dataset": 0, "name": "ResNet-18 [2,1,1,1] (Caltech-101)", "transform": transform,
             "input_size": INPUT_SIZE, "softmax": True}]


def get_noise_generators():
    return [dvvr.NoiseGenerator(INPUT_SIZE)]
