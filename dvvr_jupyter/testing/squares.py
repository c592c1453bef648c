"""A task whose right attention is known: one coloured square on a noisy
background, the class is its colour.

The square fills exactly one patch of a tiny ViT (torchvision's
``VisionTransformer``: 32x32 pictures, 8x8 patches, a 4x4 grid, one block),
so a trained model's class token must attend to that patch to answer.  It
trains in seconds on a CPU; the tests and ``notebooks/transformers.ipynb``
use it to check and to show dvvr's attention layers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

SIZE, PATCH = 32, 8
GRID = SIZE // PATCH
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 1.0, 0.1), "blue": (0.1, 0.1, 1.0)}
CLASSES = list(COLOURS)


def tiny_vit(seed: int = 0) -> VisionTransformer:
    """A one-block ViT for the task (random weights, seeded)."""
    torch.manual_seed(seed)
    return VisionTransformer(image_size=SIZE, patch_size=PATCH, num_layers=1, num_heads=2, hidden_dim=32,
                             mlp_dim=64, num_classes=len(CLASSES))


def make_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images [n, 3, 32, 32], colour labels [n], the square's patch [n])``:
    gray noise, and one patch filled with a slightly noisy colour."""
    images = torch.rand(n, 1, SIZE, SIZE, generator=generator).expand(n, 3, SIZE, SIZE).clone()
    labels = torch.randint(len(CLASSES), (n,), generator=generator)
    patches = torch.randint(GRID * GRID, (n,), generator=generator)
    colours = torch.tensor(list(COLOURS.values()))
    for i in range(n):
        row, col = divmod(int(patches[i]), GRID)
        block = colours[labels[i]].view(3, 1, 1) + 0.1 * torch.randn(3, PATCH, PATCH, generator=generator)
        images[i, :, row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = block
    return images, labels, patches


def train(model: nn.Module, steps: int = 100, batch: int = 32, seed: int = 0,
          on_step: Callable[[int, float], None] | None = None) -> float:
    """Train ``model`` on the task with Adam; returns the last loss.
    ``on_step(step, loss)`` is called after each step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        images, labels, _ = make_batch(batch, generator)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step(step, loss.item())
    return loss.item()


def held_out(n: int = 16, seed: int = 1234) -> tuple[list[tuple[torch.Tensor, int]], list[int]]:
    """``([(image [3, 32, 32], label), ...], the square's patch of each)``:
    pictures training never sees (another seed), as ``dvvr.attach`` takes a dataset."""
    images, labels, patches = make_batch(n, torch.Generator().manual_seed(seed))
    return list(zip(images, labels.tolist(), strict=True)), patches.tolist()


def attention_hits(network, attention, patches) -> float:
    """The share of ``network``'s dataset images whose ``attention`` layer,
    averaged over the heads, peaks on the square's patch (``patches``)."""
    shown = network.dataset.indices  # the dataset's page of images (16 of a larger one)
    hits = 0
    for image_id, item in enumerate(shown):
        heads = network.set_input(image_id).activation(attention)  # [heads, grid, grid]
        hits += int(heads.mean(0).flatten().argmax()) == patches[item]
    return hits / len(shown)
