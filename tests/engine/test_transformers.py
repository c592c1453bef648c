"""Transformers shown as maps: tokens on the patch grid, channels-last outputs
as channels, and each block's attention, checked against known answers."""

import copy
import logging
import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from dvvr_jupyter.engine.tracking import Tracking
from dvvr_jupyter.testing import squares


def small_vit(**kwargs) -> VisionTransformer:
    torch.manual_seed(0)
    options = dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=3)
    return VisionTransformer(**{**options, **kwargs}).eval()


def recorded(model, x):
    """(layers, activations of ``x``) as dvvr tracks and records them, on a copy."""
    copy_ = copy.deepcopy(model).eval()
    tracking = Tracking(copy_, torch.zeros(1, *x.shape[1:]))
    with torch.no_grad():
        _, values = tracking.capture.run(copy_, x)
    return tracking.layers, values


def named(layers, suffix):
    return [layer for layer in layers if layer.name.endswith(suffix)]


@pytest.mark.slow
def test_vit_b_16_blocks_are_maps_on_the_patch_grid_with_their_attention():
    model = torchvision.models.vit_b_16(weights=None)
    layers = Tracking(model, torch.zeros(1, 3, 224, 224)).layers
    blocks = [layer for layer in layers if "EncoderBlock" in layer.name and layer.name.split()[-1].startswith("Enc")]
    assert [layer.shape for layer in blocks] == [(768, 14, 14)] * 12
    attention = named(layers, " attention")
    assert [layer.shape for layer in attention] == [(12, 14, 14)] * 12
    assert [layer.module for layer in attention] == [f"encoder.layers.encoder_layer_{i}.self_attention"
                                                     for i in range(12)]
    tokens = named(layers, " class token")
    assert [layer.shape for layer in tokens] == [(768,)] * 12
    for block, token, attn in zip(blocks, tokens, attention, strict=True):
        # beside the block: its depth, the next lanes, fed by what feeds the block
        assert token.pos == (block.pos[0], 1) and attn.pos == (block.pos[0], 2)
        assert token.precursors == attn.precursors == block.precursors
        assert attn.name == f"{block.name.split('+')[0]} attention"


@pytest.mark.slow
def test_swin_t_stages_are_channel_maps():
    model = torchvision.models.swin_t(weights=None)
    tracking = Tracking(model, torch.zeros(1, 3, 224, 224))
    tracking.close()
    layers = tracking.layers
    shapes = {layer.module: layer.shape for layer in layers}
    for stage, shape in (("features.1", (96, 56, 56)), ("features.3", (192, 28, 28)),
                         ("features.5", (384, 14, 14)), ("features.7", (768, 7, 7))):
        blocks = [s for module, s in shapes.items() if module.startswith(stage + ".")]
        assert blocks and all(s == shape for s in blocks), (stage, blocks)
    assert shapes["features.2"] == (192, 28, 28)  # patch merging
    # a channels-last leaf inside a block (its MLP's first Linear: [B, 56, 56, 384])
    inner = Tracking(model, torch.zeros(1, 3, 224, 224), track=["features.1.0.mlp.0"]).layers
    assert inner[1].shape == (384, 56, 56)


def test_tokens_class_token_and_attention_are_exact():
    model = small_vit()
    x = torch.randn(3, 3, 32, 32)
    layers, values = recorded(model, x)
    # the reference: the model's own tensors, read with hooks on another copy
    reference = copy.deepcopy(model)
    seen = {}
    for i, block in enumerate(reference.encoder.layers):
        block.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(f"out{i}", out))
        block.ln_1.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(f"ln{i}", out))
    with torch.no_grad():
        reference(x)
    heads, dim = 2, 16
    for i in range(2):
        name = f"encoder.layers.encoder_layer_{i} EncoderBlock"
        block, token, attention = (next(layer for layer in layers if layer.name.startswith(name + suffix))
                                   for suffix in ("", " class token", " attention"))
        tokens = seen[f"out{i}"] if i == 0 else reference.encoder.ln(seen["out1"])  # the last block shows ln's output
        assert block.shape == (16, 4, 4) and token.shape == (16,) and attention.shape == (2, 4, 4)
        grid = tokens[:, 1:].reshape(3, 4, 4, dim).permute(0, 3, 1, 2)  # patches row by row
        torch.testing.assert_close(values[block.id], grid, rtol=0, atol=0)
        torch.testing.assert_close(values[token.id], tokens[:, 0], rtol=0, atol=0)
        mha = reference.encoder.layers[i].self_attention
        q, k, _ = torch.nn.functional.linear(seen[f"ln{i}"], mha.in_proj_weight, mha.in_proj_bias).chunk(3, -1)
        q = q.reshape(3, 17, heads, dim // heads).transpose(1, 2)
        k = k.reshape(3, 17, heads, dim // heads).transpose(1, 2)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), -1)
        torch.testing.assert_close(values[attention.id], weights[:, :, 0, 1:].reshape(3, heads, 4, 4))


class MemoryTokens(nn.Module):
    """A conv patch embedding (a 4x4 grid) and 12 learned memory tokens: 28
    tokens, no patch grid with a few extra tokens."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 8, stride=8)
        self.memory = nn.Parameter(torch.randn(1, 12, 8))
        self.mixer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens, self.memory.expand(x.shape[0], -1, -1)], 1)
        return self.head(self.mixer(tokens).mean(1))


def test_token_counts_without_a_grid_are_vectors_with_a_reason(caplog):
    with caplog.at_level(logging.INFO, logger="dvvr.engine"):
        layers, _ = recorded(MemoryTokens().eval(), torch.randn(1, 3, 32, 32))
    mixer = next(layer for layer in layers if layer.module == "mixer")
    assert mixer.kind == "vector" and mixer.shape == (8,)
    assert "28 tokens are no patch grid" in caplog.text and "mean over the tokens" in caplog.text


def test_tiny_vit_attends_to_the_square_read_through_dvvr(session):
    """The known answer: trained on the coloured squares, the class token
    attends to the square's patch; dvvr's attention layer must show it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than two for a model this small, on a shared CPU
    try:
        model = squares.tiny_vit()
        squares.train(model)
    finally:
        torch.set_num_threads(threads)
    network = session.attach(model, input_size=(squares.SIZE, squares.SIZE), class_names=squares.CLASSES)
    attention = named(network.layers, " attention")[0]
    assert attention.shape == (2, squares.GRID, squares.GRID)
    images, labels, patches = squares.make_batch(40, torch.Generator().manual_seed(1234))  # held out
    hits = 0
    for image, patch in zip(images, patches, strict=True):
        heads = network.set_input(image).activation(attention)  # [heads, 4, 4]
        hits += int(heads.mean(0).flatten().argmax()) == int(patch)
    assert hits / len(images) >= 0.9, hits


def test_timm_vit_with_registers_and_distilled_deit():
    timm = pytest.importorskip("timm")
    from timm.models.deit import VisionTransformerDistilled

    torch.manual_seed(0)
    common = dict(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=3)
    x = torch.randn(2, 3, 32, 32)
    for model, extra, label in ((timm.models.VisionTransformer(reg_tokens=2, **common), 3, "3 extra tokens"),
                                (VisionTransformerDistilled(**common), 2, "2 extra tokens")):
        model.eval()
        layers, values = recorded(model, x)
        blocks = [layer for layer in layers if layer.module in ("blocks.0", "blocks.1") and layer.kind == "feature_map"]
        assert [layer.shape for layer in blocks] == [(16, 4, 4)] * 2
        assert [layer.shape for layer in named(layers, label)] == [(16 * extra,)] * 2
        attention = named(layers, " attention")
        assert [layer.shape for layer in attention] == [(2, 4, 4)] * 2
        # the reference: timm's own unfused attention, its softmax read at attn_drop
        reference = copy.deepcopy(model)
        seen = {}
        for i, block in enumerate(reference.blocks):
            block.attn.fused_attn = False
            block.attn.attn_drop.register_forward_hook(lambda m, a, out, i=i, seen=seen: seen.__setitem__(i, out))
        with torch.no_grad():
            reference(x)
        for i, layer in enumerate(attention):
            torch.testing.assert_close(values[layer.id], seen[i][:, :, 0, extra:].reshape(2, 2, 4, 4))


class SequenceFirstViT(nn.Module):
    """torch's own encoder layers with their default batch_first=False: tokens [T, B, D]."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 8, 8)
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.blocks = nn.Sequential(*[nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0) for _ in range(2)])
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).permute(2, 0, 1)
        tokens = torch.cat([self.cls.expand(-1, x.shape[0], -1), tokens], 0)
        return self.head(self.blocks(tokens)[0])


def test_sequence_first_blocks_say_why_they_are_not_shown(caplog):
    with caplog.at_level(logging.INFO, logger="dvvr.engine"):
        layers = Tracking(SequenceFirstViT().eval(), torch.zeros(1, 3, 32, 32)).layers
    assert not [layer for layer in layers if layer.name.startswith("blocks")]
    (said,) = [r.getMessage() for r in caplog.records if "sequence-first" in r.getMessage()]
    assert "batch_first=False" in said and "[17, 1, 16]" in said


class Attention(nn.Module):  # the name timm and DINO give it, which is how it is recognised
    """The ``Attention`` of DINO's ViT (and timm before 0.9): ``qkv``, ``num_heads``,
    ``scale``, no ``q_norm``/``k_norm``; it answers ``(x, attn)``."""

    def __init__(self, dim, num_heads=2):
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)), attn


class DinoBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim)

    def forward(self, x):
        return x + self.attn(self.norm1(x))[0]


class DinoViT(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.patch_embed, self.cls_token = nn.Conv2d(3, 16, 8, 8), nn.Parameter(torch.randn(1, 1, 16))
        self.blocks, self.head = nn.ModuleList([DinoBlock(16) for _ in range(2)]), nn.Linear(16, 3)

    def tokens(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(len(t), -1, -1), t], 1)

    def forward(self, x):
        t = self.tokens(x)
        for block in self.blocks:
            t = block(t)
        return self.head(t[:, 0])


def test_attention_without_q_norm_as_dino_writes_it():
    model = DinoViT().eval()
    x = torch.randn(2, 3, 32, 32)
    layers, values = recorded(model, x)
    (first, _) = named(layers, " attention")
    assert first.shape == (2, 4, 4) and first.module == "blocks.0.attn"
    with torch.no_grad():
        _, reference = model.blocks[0].attn(model.blocks[0].norm1(model.tokens(x)))
    torch.testing.assert_close(values[first.id], reference[:, :, 0, 1:].reshape(2, 2, 4, 4))



class Lopsided(nn.Module):
    """Keys narrower than values (as EfficientFormer's attention): ``qkv``,
    ``num_heads`` and ``scale`` as timm's, but not timm's formula."""

    def __init__(self, dim=16, num_heads=2, key_dim=4):
        super().__init__()
        self.num_heads, self.key_dim, self.val_dim, self.scale = num_heads, key_dim, dim // num_heads, key_dim ** -0.5
        self.qkv = nn.Linear(dim, num_heads * (2 * key_dim + dim // num_heads))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, self.num_heads, -1).permute(0, 2, 1, 3).split(
            [self.key_dim, self.key_dim, self.val_dim], dim=3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1)), attn


def test_an_attention_that_is_not_timm_s_formula_is_left_out_not_a_crash():
    model = DinoViT()
    for block in model.blocks:
        block.attn = type("Attention", (Lopsided,), {})()  # the class name timm's is recognised by
    layers, _ = recorded(model.eval(), torch.randn(2, 3, 32, 32))
    assert [layer.shape for layer in layers if layer.module == "blocks.0"][0] == (16, 4, 4)
    assert not named(layers, " attention")


def test_a_vit_given_the_wrong_input_size_names_input_size(session):
    with pytest.raises(ValueError, match=r"input_size=\(48, 48\).*Wrong image height! Expected 32 but got 48"):
        session.attach(small_vit(), input_size=(48, 48))
