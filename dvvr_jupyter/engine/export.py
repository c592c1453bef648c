"""``export``: write a layer's channels as PNG files on the server's side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .encode import png_bytes


def _write(folder: Path, images) -> tuple[Path, int]:
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(images):
        target = folder / f"{index}.png"
        tmp = target.with_suffix(".png.tmp")
        tmp.write_bytes(png_bytes(np.ascontiguousarray(pixels)))
        tmp.replace(target)
    return folder, len(images)


def export_activation(network, result, layer) -> tuple[Path, int]:
    """The layer's activation channels as grayscale PNGs (the layer's one scale)."""
    layer = network.layer(layer)
    pixels = result.channel_images(layer).pixels
    return _write(network.cache_dir / "export" / f"layer_{layer.id}" / "activation", list(pixels))


def export_featvis(network, layer, images) -> tuple[Path, int]:
    """Feature visualizations (uint8 [C, 3, H, W]) as colour PNGs."""
    layer = network.layer(layer)
    array = images.cpu().numpy().transpose(0, 2, 3, 1)
    return _write(network.cache_dir / "export" / f"layer_{layer.id}" / "featvis", list(array))
