"""``export``: write a layer's channels as PNG files on the server's side.

Each export gets a folder of its own (``export/layer_<l>/<kind>/<time>-<n>``),
filled under a hidden temporary name and renamed into place when complete:
two exports at once never share or mix files, and a reader never sees a
half-written export.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import Unavailable
from .encode import png_bytes

_serial = itertools.count()


def _write(parent: Path, images) -> tuple[Path, int]:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".export-", suffix=".tmp", dir=parent))
        try:
            for index, pixels in enumerate(images):
                (building / f"{index}.png").write_bytes(png_bytes(np.ascontiguousarray(pixels)))
            folder = parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_serial)}"
            building.rename(folder)  # atomic: the folder appears complete
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    except OSError as exc:  # a full disk, a read-only cache folder: the server's trouble, said plainly
        raise Unavailable(f"cannot write the export into the cache folder: {exc.strerror or exc}") from None
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
