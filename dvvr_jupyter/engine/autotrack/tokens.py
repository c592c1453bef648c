"""Transformer layers shown as maps: tokens on the patch grid, channels-last
outputs as channels, and each block's attention.

Read once, from the probe pass and the module tree:

- *grids*: the spatial sizes ``(h, w)`` the model has, from its NCHW outputs
  (convolutions such as a ViT's patch embedding, pooling, 2D norms), timm's
  ``patch_embed.grid_size``, and their halvings (a Swin stage merges 2x2 patches);
- a ``[B, T, D]`` output is tokens when ``T`` is a grid's ``h * w`` plus a few
  extra tokens (the class token, distillation and register tokens); in a model
  with attention modules and no spatial output of its own (a linear patch
  embedding), a square ``T - E`` is taken as the grid; any other token count
  is shown as a vector (a log line says why);
- a ``[B, H, W, C]`` output is channels-last when ``(H, W)`` is a grid and
  ``(W, C)`` is not.

Extra tokens come first (``cls, [dist | registers], patches``: torchvision's
and timm's order; timm's ``num_prefix_tokens`` says how many when a model
has it).  With ``extras=True`` (the default tracking) a token block gets two
layers beside it, at its own depth: its extra tokens as a vector, and its
attention module's class-token attention as ``heads`` maps on the grid.
"""

from __future__ import annotations

import logging
import math

from torch import nn

from ..attention import heads_of, is_attention
from ..layers import RECORD_ATTENTION, RECORD_OUTPUT
from ..maps import ChannelsLast, ClassAttention, ExtraTokens, TokenGrid, TokenMean
from .graph import Entry, Probe

log = logging.getLogger("dvvr.engine")

MAX_EXTRA = 8  # extra tokens before the patches (class, distillation, registers)
_NCHW = (nn.Conv2d, nn.BatchNorm2d, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
         nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)


def _grid_attr(module: nn.Module):
    grid = getattr(module, "grid_size", None)  # timm's PatchEmbed
    if isinstance(grid, (tuple, list)) and len(grid) == 2 and all(isinstance(g, int) for g in grid):
        return int(grid[0]), int(grid[1])
    return None


class Grids:
    """The model's spatial sizes, found in the probe pass."""

    def __init__(self, model: nn.Module, probe: Probe, input_size: tuple[int, int]):
        self.patch: list[tuple[int, int]] = []  # NCHW outputs and patch embeddings, in run order
        for name in probe.order:
            module = model.get_submodule(name)
            shape = probe.shapes.get(name)
            grid = _grid_attr(module)
            if grid is None and isinstance(module, _NCHW) and shape is not None and len(shape) == 4:
                grid = (int(shape[2]), int(shape[3]))
            if grid is not None and grid not in self.patch:
                self.patch.append(grid)
        self.spatial: set[tuple[int, int]] = set()
        for h, w in [*self.patch, input_size]:
            for k in range(7):
                self.spatial |= {(math.ceil(h / 2**k), math.ceil(w / 2**k)), (h // 2**k, w // 2**k)}
        self.transformer = any(is_attention(m) or "Attention" in type(m).__name__ for m in model.modules())

    def tokens(self, n_tokens: int) -> tuple[tuple[int, int] | None, int]:
        """(grid, number of extra tokens) for ``n_tokens`` tokens, or (None, 0)."""
        fits = [(n_tokens - h * w, -i, (h, w)) for i, (h, w) in enumerate(self.patch) if 0 <= n_tokens - h * w <= MAX_EXTRA]
        if fits:
            extra, _, grid = min(fits)  # fewest extras; the latest grid on a tie
            return grid, extra
        if self.transformer and not self.patch:  # no patch embedding of its own: a square of patches
            for extra in range(MAX_EXTRA + 1):
                side = math.isqrt(n_tokens - extra) if n_tokens - extra > 0 else 0
                if side >= 2 and side * side == n_tokens - extra:
                    return (side, side), extra
        return None, 0

    def channels_last(self, shape) -> bool:
        return (int(shape[1]), int(shape[2])) in self.spatial and (int(shape[2]), int(shape[3])) not in self.spatial


def _prefix(model: nn.Module, extra: int) -> int:
    declared = getattr(model, "num_prefix_tokens", None)  # timm
    return declared if isinstance(declared, int) and 0 <= declared <= extra else extra


def _attention_module(model: nn.Module, unit: str) -> str | None:
    found = [name for name, m in model.get_submodule(unit).named_modules(prefix=unit) if is_attention(m)]
    return found[0] if len(found) == 1 else None


def shape_entries(model: nn.Module, probe: Probe, entries: list[Entry], input_size, extras: bool,
                  unit_name) -> list[Entry]:
    """``entries`` with views set on token and channels-last layers, and (with
    ``extras``) each token block's extra tokens and attention beside it."""
    grids = Grids(model, probe, input_size)
    shaped: list[Entry] = []
    for entry in entries:
        shaped.append(entry)
        shape = probe.shapes.get(entry.source) if entry.source and entry.record == RECORD_OUTPUT else None
        if shape is None:
            continue
        if len(shape) == 4 and grids.channels_last(shape):
            entry.view = ChannelsLast()
        if len(shape) != 3 or not grids.transformer and not grids.patch:
            continue
        n_tokens = int(shape[1])
        grid, extra = grids.tokens(n_tokens)
        if grid is None:
            if grids.transformer:
                entry.view = TokenMean()
                log.info("layer %r: %d tokens are no patch grid (no patch embedding gives one and no square count "
                         "of patches is left after up to %d extra tokens): shown as a vector, each channel's mean "
                         "over the tokens", entry.name, n_tokens, MAX_EXTRA)
            continue
        prefix = _prefix(model, extra)
        entry.view = TokenGrid(prefix, grid)
        if not extras:
            continue
        unit = entry.unit or entry.source
        block = unit_name(model, unit, [])
        if extra:
            index = (*range(prefix), *range(prefix + grid[0] * grid[1], n_tokens))
            label = "class token" if extra == 1 and prefix == 1 else f"{extra} extra tokens"
            shaped.append(Entry(f"{block} {label}", entry.source, entry.prec, view=ExtraTokens(index)))
        attention = _attention_module(model, unit)
        attn_shape = probe.shapes.get(attention) if attention else None
        if attn_shape is not None and len(attn_shape) == 3 and n_tokens in attn_shape[:2]:
            query = 0 if prefix else None
            shaped.append(Entry(f"{block} attention", attention, entry.prec, record=RECORD_ATTENTION,
                                weight_module=None, view=ClassAttention(query, prefix, grid)))
            log.debug("layer %r: %d heads of attention on a %dx%d grid", block, heads_of(model.get_submodule(attention)),
                      *grid)
    return shaped
