"""A layer's channel maps as one picture: the tiles of a texture atlas.

A browser client draws a layer with one texture instead of one per
channel, so the layer's scaled pixels ([C, H, W] uint8, one scale for the
layer) are laid out as tiles of H x W in a near-square grid, row-major,
without padding; tiles past the last channel stay 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AtlasLayout:
    """Where channel ``c`` is: column ``c % cols``, row ``c // cols`` of tiles of ``tile_width`` x ``tile_height``."""

    channels: int
    cols: int
    rows: int
    tile_width: int
    tile_height: int


def layout(channels: int, height: int, width: int) -> AtlasLayout:
    cols = max(1, math.ceil(math.sqrt(channels)))
    rows = max(1, math.ceil(channels / cols))
    return AtlasLayout(channels, cols, rows, width, height)


def tile(pixels: np.ndarray) -> tuple[np.ndarray, AtlasLayout]:
    """The channels of ``pixels`` [C, H, W] as one [rows * H, cols * W] image."""
    channels, height, width = pixels.shape
    grid = layout(channels, height, width)
    padded = np.zeros((grid.rows * grid.cols, height, width), dtype=pixels.dtype)
    padded[:channels] = pixels
    image = padded.reshape(grid.rows, grid.cols, height, width).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(image.reshape(grid.rows * height, grid.cols * width)), grid
