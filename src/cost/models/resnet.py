"""Video ResNets of the paper (Table 1, Figure 3): C2D, C3D (3x1x1), CoST(a), CoST(b).

Module names follow torchvision's ResNet (conv1, bn1, layer1..layer4, downsample, fc), so an
ImageNet state dict maps onto every architecture key by key (see ``inflate.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .cost_op import IMPLS, CoST

ARCHS = ("c2d", "c3d", "cost_a", "cost_b")


def _alternating(n: int, first: int) -> tuple[int, ...]:
    """0/1 flags for n units, alternating, starting with ``first``."""
    return tuple((first + i) % 2 for i in range(n))


# Units per stage (res2..res5), base width, and which units carry the C3D/CoST operation
# ("every two residual units"; the authors' patterns, SPEC section 1).
PRESETS: dict[object, dict] = {
    50: {
        "units": (3, 4, 6, 3),
        "base_width": 64,
        "patterns": ((0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1)),
    },
    101: {
        "units": (3, 4, 23, 3),
        "base_width": 64,
        "patterns": ((0, 1, 0), (1, 0, 1, 0), _alternating(23, first=1), (0, 1, 0)),
    },
    # Small bottleneck network for CPU tests and the demo: not a paper model.
    "tiny": {
        "units": (1, 1, 1, 1),
        "base_width": 16,
        "patterns": ((1,), (1,), (1,), (1,)),
    },
}


def _preset(depth) -> dict:
    key = depth
    if isinstance(depth, str) and depth.isdigit():
        key = int(depth)
    if key not in PRESETS:
        choices = ", ".join(str(k) for k in PRESETS)
        raise ValueError(f"model.depth={depth!r} is not supported; choose one of: {choices}")
    return PRESETS[key]


class Bottleneck(nn.Module):
    """1x1x1 -> 1x3x3 -> 1x1x1 residual unit; ``op`` swaps in C3D's 3x1x1 or CoST (Fig. 3)."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        op: str = "c2d",
        stride_on: str = "conv3x3",
        cost_options: dict | None = None,
    ) -> None:
        super().__init__()
        out_channels = width * self.expansion
        s1, s2 = (stride, 1) if stride_on == "conv1x1" else (1, stride)
        kt = 3 if op == "c3d" else 1
        self.conv1 = nn.Conv3d(
            in_channels, width, (kt, 1, 1), stride=(1, s1, s1), padding=(kt // 2, 0, 0), bias=False
        )
        self.bn1 = nn.BatchNorm3d(width)
        if op == "cost":
            self.conv2 = CoST(width, width, stride=s2, **(cost_options or {}))
        else:
            self.conv2 = nn.Conv3d(
                width, width, (1, 3, 3), stride=(1, s2, s2), padding=(0, 1, 1), bias=False
            )
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


def _max_pool(kernel: Sequence[int], stride: Sequence[int]) -> nn.MaxPool3d:
    kernel = tuple(int(k) for k in kernel)
    if len(kernel) != 3:
        raise ValueError(f"pooling kernels are (t, h, w) triples, got {kernel}")
    # Odd kernels are centred ("same" padding); even ones (the authors' 2x1x1) are unpadded.
    return nn.MaxPool3d(kernel, stride=tuple(stride), padding=tuple((k - 1) // 2 for k in kernel))


class VideoResNet(nn.Module):
    """ResNet-C2D skeleton of Table 1 with a chosen operation in the patterned units."""

    def __init__(
        self,
        arch: str,
        units: Sequence[int],
        patterns: Sequence[Sequence[int]],
        base_width: int,
        num_classes: int,
        share_weights: bool = True,
        pool1_kernel: Sequence[int] = (3, 3, 3),
        pool2_kernel: Sequence[int] | None = (3, 1, 1),
        stride_on: str = "conv3x3",
        dropout: float = 0.5,
        coef_init: Sequence[float] = (0.7, -0.7, -0.7),
        cost_impl: str = "auto",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.arch = arch
        op = {"c2d": "c2d", "c3d": "c3d", "cost_a": "cost", "cost_b": "cost"}[arch]
        cost_options = {
            "mode": arch[-1] if op == "cost" else "b",
            "share_weights": share_weights,
            "coef_init": tuple(float(c) for c in coef_init),
            "impl": cost_impl,
        }

        self.conv1 = nn.Conv3d(
            in_channels, base_width, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False
        )
        self.bn1 = nn.BatchNorm3d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = _max_pool(pool1_kernel, (1, 2, 2))
        self.pool2 = _max_pool(pool2_kernel, (2, 1, 1)) if pool2_kernel else nn.Identity()

        channels, layer_index = base_width, 0
        for stage, (n_units, pattern) in enumerate(zip(units, patterns)):
            width = base_width * 2**stage
            blocks = []
            for unit in range(n_units):
                unit_op = op if pattern[unit] else "c2d"
                stride = 2 if (stage > 0 and unit == 0) else 1
                block = Bottleneck(channels, width, stride, unit_op, stride_on, cost_options)
                if isinstance(block.conv2, CoST):
                    layer_index += 1
                    block.conv2.layer_index, block.conv2.stage, block.conv2.unit = (
                        layer_index,
                        stage + 2,
                        unit,
                    )
                blocks.append(block)
                channels = width * Bottleneck.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))

        self.avgpool = nn.AdaptiveAvgPool3d(1)  # global, so any T and full frames work
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.pool2(self.layer1(x))
        return self.layer4(self.layer3(self.layer2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"expected a N x C x T x H x W clip batch, got shape {tuple(x.shape)}")
        x = self.avgpool(self.features(x)).flatten(1)
        return self.fc(self.dropout(x))


def build_model(
    arch: str,
    depth=50,
    num_classes: int = 400,
    share_weights: bool = True,
    *,
    unit_patterns: Sequence[Sequence[int]] | None = None,
    base_width: int | None = None,
    cost_impl: str = "auto",
    **options,
) -> VideoResNet:
    """Build one of the paper's backbones.

    ``arch``: c2d, c3d, cost_a, cost_b. ``depth``: 50, 101 or "tiny" (units 1-1-1-1, width
    16; for CPU tests and the demo). ``unit_patterns`` overrides which units per stage carry
    the C3D/CoST op (tuples of 0/1). ``cost_impl`` chooses how CoST layers compute their views
    (see ``CoST``: auto, reference, conv2d, fused); all give the same numbers. Other options
    (``pool1_kernel``, ``pool2_kernel``, ``stride_on``, ``dropout``, ``coef_init``) are the
    [reading]s of SPEC.md with its defaults.
    """
    if arch not in ARCHS:
        raise ValueError(f"model.arch={arch!r} is not supported; choose one of: {', '.join(ARCHS)}")
    if cost_impl not in IMPLS:
        raise ValueError(f"model.cost_impl={cost_impl!r}: choose one of {', '.join(IMPLS)}")
    stride_on = options.get("stride_on", "conv3x3")
    if stride_on not in ("conv3x3", "conv1x1"):
        raise ValueError(f"model.stride_on={stride_on!r}: choose 'conv3x3' or 'conv1x1'")
    preset = _preset(depth)
    units = preset["units"]
    patterns = preset["patterns"] if unit_patterns is None else unit_patterns
    patterns = [tuple(int(bool(u)) for u in p) for p in patterns]
    if len(patterns) != 4 or any(len(p) != n for p, n in zip(patterns, units)):
        raise ValueError(
            f"model.unit_patterns must give one 0/1 flag per unit for each of the 4 stages "
            f"(units {units} for depth {depth}), got {patterns}"
        )
    return VideoResNet(
        arch,
        units,
        patterns,
        base_width or preset["base_width"],
        num_classes,
        share_weights=share_weights,
        cost_impl=cost_impl,
        **options,
    )


def cost_layers(model: nn.Module) -> list[CoST]:
    """The CoST modules of a network in forward order (empty for C2D and C3D)."""
    return [m for m in model.modules() if isinstance(m, CoST)]
