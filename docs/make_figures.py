"""Draw docs/demo_layers.png: what the VR client receives for the cat photo
of projects/demo (input, feature maps of three layers, top classes).

Run: python docs/make_figures.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent

TILE, GAP, CHANNELS = 72, 6, 8


def colour(pixels: np.ndarray, zero: int) -> Image.Image:
    """The client's colour map: blue below the zero value, red above it."""
    values = pixels.astype(np.float32)
    below = np.clip((zero - values) / max(zero, 1), 0, 1)
    above = np.clip((values - zero) / max(255 - zero, 1), 0, 1)
    rgb = np.stack([255 * (1 - below), 255 * (1 - below) * (1 - above), 255 * (1 - above)], -1)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((TILE, TILE), Image.NEAREST)


def save_figure(canvas: Image.Image, name: str) -> None:
    out = REPO / "docs" / name
    canvas.save(out)
    print(f"wrote {out}")


def main() -> None:
    from dvvr_jupyter.engine.project import load_project
    from dvvr_jupyter.engine.session import Session

    session = Session(cache_dir=tempfile.mkdtemp())
    (network,) = load_project(REPO / "projects" / "demo", session)
    photos = session.datasets[0]
    cat = next(i for i, name in enumerate(photos.class_names) if "cat" in name)
    raw = photos.item(cat)[0]
    result = network.set_input(cat)
    picks = [1, 6, 13]  # stem, a middle block, a late block
    width = 220 + CHANNELS * (TILE + GAP) + 20
    height = 40 + len(picks) * (TILE + 30) + 20
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 10), f"{network.name}: what the VR client receives for one photo", fill="black")
    thumb = raw.copy()
    thumb.thumbnail((200, 200))
    canvas.paste(thumb, (10, 40))
    y = 50 + thumb.height
    for name, value in result.top_classes(5):
        draw.text((10, y), f"{value:>6.2f} %  {name}", fill="black")
        y += 16
    for row, layer_id in enumerate(picks):
        layer = network.layers[layer_id]
        images = result.channel_images(layer)
        pixels, zero = images.pixels, images.zero_value
        top = 40 + row * (TILE + 30)
        draw.text((220, top), f"layer {layer_id}: {layer.name}  {list(layer.shape)}  (first {CHANNELS} channels)",
                  fill="black")
        for c in range(CHANNELS):
            canvas.paste(colour(pixels[c], zero), (220 + c * (TILE + GAP), top + 16))
    save_figure(canvas, "demo_layers.png")
    session.close()


if __name__ == "__main__":
    main()
