"""Tiny random CNNs and datasets for fast tests (no downloads)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from dvvr import TrackerModule

CLASSES = ["circle", "square", "stripes"]


class TinyTracked(nn.Module):
    """A seed-style model: TrackerModules with a skip lane and an info panel."""

    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.t_input = TrackerModule((0, 0), "Input")
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.t_conv1 = TrackerModule((1, 0), "Conv1", self.conv1, precursors=[(0, 0)])
        self.t_block = TrackerModule((2, 0), "Block", precursors=[(1, 0)], ignore_activation=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.t_conv2 = TrackerModule((3, 0), "Conv2", self.conv2, precursors=[(2, 0)])
        self.t_skip = TrackerModule((3, 1), "Skip", precursors=[(2, 0)])
        self.t_sum = TrackerModule((4, 0), "Sum", precursors=[(3, 0), (3, 1)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.t_pool = TrackerModule((5, 0), "Pool", precursors=[(4, 0)])
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(8, n_classes)
        self.t_scores = TrackerModule((6, 0), "Scores (display_classnames)", self.fc, precursors=[(5, 0)])

    def forward(self, x):
        x = self.t_input(x)
        x = self.t_conv1(torch.relu(self.bn1(self.conv1(x))))
        self.t_block(x)
        y = self.t_conv2(self.conv2(x))
        x = self.t_sum(torch.relu(y + self.t_skip(x)))
        x = self.t_pool(self.pool(x).flatten(1))
        return self.t_scores(self.fc(self.dropout(x)))


def tiny_images(n: int = 6, size=(40, 48), seed: int = 0):
    """``(PIL image, label)`` pairs of varied sizes (like a real folder)."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        h, w = size[0] + 4 * i, size[1] - 2 * i
        pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        items.append((Image.fromarray(pixels), i % len(CLASSES)))
    return items


#: A project file (``dvvr serve``) showing the tiny model and images; it
#: imports this module from ``tests`` (format with ``tests=<that folder>``).
PROJECT_SOURCE = '''
import sys
sys.path.insert(0, {tests!r})
import tiny
import dvvr

def get_datasets():
    return [dvvr.Dataset(tiny.tiny_images(), class_names=tiny.CLASSES, name="tiny")]

def get_dl_networks():
    return [{{"model": tiny.TinyTracked(), "name": "tiny", "input_size": (32, 36)}}]

def get_noise_generators():
    return [dvvr.NoiseGenerator((32, 36)), dvvr.NoiseGenerator((32, 36), kind="gaussian")]
'''
