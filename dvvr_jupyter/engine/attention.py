"""Attention weights of a transformer block, recomputed from its own module.

A ViT's attention modules are called without asking for their weights
(torchvision passes ``need_weights=False``), so the capture records the
module's call and computes the weights from that call's inputs with the
module's own parameters, on the engine's copy of the model.  Nothing of the
model's own computation changes: its output is the one it made.

- ``torch.nn.MultiheadAttention``: the module's own ``forward`` again, with
  ``need_weights=True, average_attn_weights=False`` (exact by construction).
- timm's ``Attention`` (``qkv``, ``scale``, ``num_heads``, and from timm 0.9
  ``q_norm``, ``k_norm``; DINO's is the same without them): timm's own
  unfused formula, ``softmax(q * scale @ k^T + mask)``.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn


def is_timm_attention(module: nn.Module) -> bool:
    """timm's (or DINO's) ``Attention``: q, k and v of one width each from ``qkv``.
    Other modules of that name (EfficientFormer's narrower keys) would not fit
    its formula: they get no attention layer rather than a failing forward."""
    qkv, heads = getattr(module, "qkv", None), getattr(module, "num_heads", None)
    if not (type(module).__name__ == "Attention" and isinstance(qkv, nn.Linear) and isinstance(heads, int)
            and heads > 0 and hasattr(module, "scale")):
        return False
    head_dim = getattr(module, "head_dim", None)
    if isinstance(head_dim, int):
        return qkv.out_features == 3 * heads * head_dim
    return qkv.out_features % (3 * heads) == 0 and qkv.out_features == 3 * qkv.in_features


def is_attention(module: nn.Module) -> bool:
    """Whether ``attention_weights`` knows how to read this module."""
    return isinstance(module, nn.MultiheadAttention) or is_timm_attention(module)


def heads_of(module: nn.Module) -> int:
    return int(module.num_heads)


def attention_weights(module: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
    """``[B, heads, L, S]`` softmax weights of the call ``module(*args, **kwargs)``."""
    if isinstance(module, nn.MultiheadAttention):
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        bound.arguments["need_weights"] = True
        bound.arguments["average_attn_weights"] = False
        _, weights = module.forward(*bound.args, **bound.kwargs)
        return weights if weights.dim() == 4 else weights.unsqueeze(0)  # unbatched input: [heads, L, S]
    return _timm_weights(module, args, kwargs)


def _timm_weights(module: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
    x = args[0] if args else kwargs["x"]
    mask = args[1] if len(args) > 1 else kwargs.get("attn_mask")
    b, n, _ = x.shape
    head_dim = int(getattr(module, "head_dim", module.qkv.out_features // 3 // module.num_heads))
    qkv = module.qkv(x).reshape(b, n, 3, module.num_heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k, _ = qkv.unbind(0)
    # timm >= 0.9 normalises q and k (identity unless qk_norm); timm before it and DINO have neither
    q_norm, k_norm = getattr(module, "q_norm", None), getattr(module, "k_norm", None)
    q, k = q_norm(q) if q_norm is not None else q, k_norm(k) if k_norm is not None else k
    scores = (q * module.scale) @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return scores.softmax(dim=-1)
