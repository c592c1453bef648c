"""``export``: write a layer's channels as PNG files on the server's side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .encode import png_bytes, to_uint8_layer


def _write(folder: Path, images) -> tuple[Path, int]:
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(images):
        target = folder / f"{index}.png"
        tmp = target.with_suffix(".png.tmp")
        tmp.write_bytes(png_bytes(np.ascontiguousarray(pixels)))
        tmp.replace(target)
    return folder, len(images)


def export_activation(network, result, layer_id: int) -> tuple[Path, int]:
    pixels, _ = to_uint8_layer(result._layer(layer_id, "activation"))
    return _write(network.cache_dir / "export" / f"layer_{layer_id}" / "activation", list(pixels))


def export_featvis(network, layer_id: int, images) -> tuple[Path, int]:
    array = images.cpu().numpy().transpose(0, 2, 3, 1)
    return _write(network.cache_dir / "export" / f"layer_{layer_id}" / "featvis", list(array))
