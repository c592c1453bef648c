"""Draw docs/vit_attention.png: the tiny ViT of notebooks/transformers.ipynb,
read through dvvr's attention layer before and after training, for held-out
coloured squares (each head's class-token attention on the 4x4 patch grid,
in the client's colours on the layer's one scale; the square's patch framed).

Run: python docs/vit_attention.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from make_figures import colour, save_figure
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
TILE, GAP, SHOWN = 96, 10, 4


def main() -> None:
    from dvvr_jupyter.engine.session import Session
    from dvvr_jupyter.testing import squares

    torch.set_num_threads(1)
    session = Session(cache_dir=tempfile.mkdtemp())
    model = squares.tiny_vit()
    images, patches = squares.held_out(SHOWN)
    network = session.attach(model, images, class_names=squares.CLASSES, name="tiny ViT")
    attention = next(layer for layer in network.layers if layer.name.endswith(" attention"))
    heads = attention.channels
    columns = ["before: " + f"head {h}" for h in range(heads)] + ["after: " + f"head {h}" for h in range(heads)]
    width = GAP + (TILE + GAP) * (1 + len(columns))
    height = 60 + SHOWN * (TILE + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP, 8), f"{network.name}: layer {attention.id} {attention.name!r} {list(attention.shape)}: "
              "the class token's attention to each patch, per head", fill="black")
    for col, name in enumerate(["input", *columns]):
        draw.text((GAP + col * (TILE + GAP), 36), name, fill="black")
    for phase in range(2):
        if phase == 1:
            squares.train(model)
        for row in range(SHOWN):
            top = 54 + row * (TILE + GAP)
            result = network.set_input(row)
            if phase == 0:
                picture = network.pipeline.to_image(result.input.tensor).resize((TILE, TILE), Image.NEAREST)
                canvas.paste(picture, (GAP, top))
            pixels = result.channel_images(attention)
            for head in range(heads):
                left = GAP + (1 + phase * heads + head) * (TILE + GAP)
                canvas.paste(colour(pixels.pixels[head], pixels.zero_value).resize((TILE, TILE), Image.NEAREST), (left, top))
                r, c = divmod(patches[row], squares.GRID)
                cell = TILE // squares.GRID
                draw.rectangle([left + c * cell, top + r * cell, left + (c + 1) * cell - 1, top + (r + 1) * cell - 1],
                               outline="black", width=2)
    save_figure(canvas, "vit_attention.png")
    session.close()


if __name__ == "__main__":
    main()
