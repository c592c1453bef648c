"""The seed's Caltech-101 network written the seed's way: a ResNet-18
variant (blocks [2, 1, 1, 1], 101 classes, input 150x175) with
``TrackerModule`` markers where the VR client shows a layer.

Positions are handed out by a small counter while the network is built
(the seed used a module-level global, which broke with two instances).
"""

from __future__ import annotations

import torch
from torch import nn

from dvvr import TrackerModule


class _Depth:
    """Hands out depths on the VR grid as the network is built."""

    def __init__(self):
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def conv3x3(inplanes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, depth: _Depth, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu_1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu_2 = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        start = depth.value
        marker, conv1, conv2, total = depth.next(), depth.next(), depth.next(), depth.next()
        self.marker = TrackerModule((marker, 0), "BasicBlock", precursors=[(start, 0)], ignore_activation=True)
        self.tracker1 = TrackerModule((conv1, 0), "BasicBlock Conv1", self.conv1, precursors=[(marker, 0)])
        self.tracker2 = TrackerModule((conv2, 0), "BasicBlock Conv2", self.conv2, precursors=[(conv1, 0)])
        skip_weights = self.downsample[0] if self.downsample is not None else None
        self.tracker3 = TrackerModule((conv2, 1), "Skip", skip_weights, precursors=[(marker, 0)])
        self.tracker4 = TrackerModule((total, 0), "Sum", precursors=[(conv2, 0), (conv2, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.marker(x)
        out = self.tracker1(self.relu_1(self.bn1(self.conv1(x))))
        out = self.tracker2(self.bn2(self.conv2(out)))
        identity = self.tracker3(x if self.downsample is None else self.downsample(x))
        return self.tracker4(self.relu_2(out + identity))


class ResNet(nn.Module):
    def __init__(self, blocks=(2, 1, 1, 1), n_classes: int = 101):
        super().__init__()
        depth = _Depth()
        self.tracker_input = TrackerModule((0, 0), "Input")
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.tracker_conv1 = TrackerModule((depth.next(), 0), "Conv1", self.conv1, precursors=[(0, 0)])
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.tracker_maxpool = TrackerModule((depth.next(), 0), "Maxpool", precursors=[(depth.value - 1, 0)])
        inplanes = 64
        stages = []
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            layers = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(inplanes, planes, depth, stride))
                inplanes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        pool = depth.next()
        self.tracker_avgpool = TrackerModule((pool, 0), "Avgpool", precursors=[(pool - 1, 0)])
        flat = depth.next()
        self.tracker_flatten = TrackerModule((flat, 0), "Flatten to 1D vector", precursors=[(pool, 0)],
                                             ignore_activation=True)
        self.classifier = nn.Linear(512, n_classes)
        scores = depth.next()
        self.tracker_scores = TrackerModule((scores, 0), "Class Scores (display_classnames)", self.classifier,
                                            precursors=[(flat, 0)])
        probs = depth.next()
        self.tracker_probs = TrackerModule((probs, 0), "Posterior Probabilities (display_classnames)",
                                           precursors=[(scores, 0)])
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tracker_input(x)
        x = self.tracker_conv1(self.relu(self.bn1(self.conv1(x))))
        x = self.tracker_maxpool(self.maxpool(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.tracker_avgpool(torch.flatten(self.avgpool(x), 1))
        x = self.tracker_flatten(x)
        logits = self.tracker_scores(self.classifier(x))
        self.tracker_probs(torch.softmax(logits, dim=1))  # shown, not returned: the model answers logits
        return logits
