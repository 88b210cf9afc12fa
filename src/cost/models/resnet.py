"""Video ResNets of the paper (Table 1, Figure 3): C2D, C3D (3x1x1), CoST(a), CoST(b).

Each architecture is one row of ``UNIT_SPECS``: the temporal kernel of a patterned unit's first
convolution and the maker of its 3x3 convolution, passed into the unit as torchvision passes
``block`` and PyTorchVideo ``conv_b``.

Module names follow torchvision's ResNet (conv1, bn1, layer1..layer4, downsample, fc), so an
ImageNet state dict maps onto every architecture key by key (see ``inflate.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .cost_op import IMPLS, CoST


class UnitPlace(NamedTuple):
    """Where a patterned unit sits: 1-based count of patterned units, stage (2..5 for res2..res5), unit."""

    layer_index: int
    stage: int
    unit: int


def planar_conv(channels: int, stride: int, **_cost_options) -> nn.Conv3d:
    """C2D's 1x3x3 convolution (takes and ignores the CoST options, so every maker is called alike)."""
    return nn.Conv3d(channels, channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


def cost_conv(mode: str) -> Callable[..., CoST]:
    """A maker of CoST(a) or CoST(b) layers (``mode`` "a" or "b")."""

    def make(channels: int, stride: int, *, place: UnitPlace, **cost_options) -> CoST:
        layer = CoST(channels, channels, mode=mode, stride=stride, **cost_options)
        # CoST takes no position argument yet: the maker names the layer for the statistics.
        layer.layer_index, layer.stage, layer.unit = place
        return layer

    return make


@dataclass(frozen=True)
class UnitSpec:
    """What an architecture puts into its patterned residual units (Fig. 3)."""

    temporal_kernel: int  # conv1's size along time: C3D's 3x1x1, else 1x1x1
    conv2: Callable[..., nn.Module]  # (channels, stride, *, place, **cost_options) -> the 3x3 conv


# The one table of architectures. Units without the operation are C2D's.
UNIT_SPECS: dict[str, UnitSpec] = {
    "c2d": UnitSpec(temporal_kernel=1, conv2=planar_conv),
    "c3d": UnitSpec(temporal_kernel=3, conv2=planar_conv),
    "cost_a": UnitSpec(temporal_kernel=1, conv2=cost_conv("a")),
    "cost_b": UnitSpec(temporal_kernel=1, conv2=cost_conv("b")),
}
ARCHS = tuple(UNIT_SPECS)
STRIDE_ON = ("conv3x3", "conv1x1")


def _alternating(n: int, first: int) -> tuple[int, ...]:
    """0/1 flags for n units, alternating, starting with ``first``."""
    return tuple((first + i) % 2 for i in range(n))


# Units per stage (res2..res5), base width, and which units carry the C3D/CoST operation
# ("every two residual units"; the authors' patterns, docs/method.md "Unit patterns").
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


def _choose(key: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"model.{key}={value!r} is not supported; choose one of: {', '.join(map(str, choices))}")


def check_options(arch: str, depth=50, cost_impl: str = "auto", stride_on: str = "conv3x3") -> dict:
    """The one check of the builder's choices; returns the preset of ``depth`` (50, 101, "tiny")."""
    _choose("arch", arch, tuple(UNIT_SPECS))
    _choose("cost_impl", cost_impl, IMPLS)
    _choose("stride_on", stride_on, STRIDE_ON)
    key = int(depth) if isinstance(depth, str) and depth.isdigit() else depth
    _choose("depth", key, tuple(PRESETS))
    return PRESETS[key]


class Bottleneck(nn.Module):
    """1x1x1 -> 1x3x3 -> 1x1x1 residual unit (Fig. 3); ``temporal_kernel`` and ``conv2`` make
    C3D's 3x1x1 first conv or CoST's 3x3 layer, as in ``UNIT_SPECS``."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        *,
        temporal_kernel: int = 1,
        conv2: Callable[[int, int], nn.Module] = planar_conv,
        stride_on: str = "conv3x3",
    ) -> None:
        super().__init__()
        out_channels = width * self.expansion
        s1, s2 = (stride, 1) if stride_on == "conv1x1" else (1, stride)
        kt = temporal_kernel
        self.conv1 = nn.Conv3d(in_channels, width, (kt, 1, 1), stride=(1, s1, s1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = conv2(width, s2)
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
    """ResNet-C2D skeleton of Table 1 with ``UNIT_SPECS[arch]`` in the patterned units."""

    # The four stages, added by name in __init__.
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

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
        spec, plain = UNIT_SPECS[arch], UNIT_SPECS["c2d"]
        cost_options = {
            "share_weights": share_weights,
            "coef_init": tuple(float(c) for c in coef_init),
            "impl": cost_impl,
        }

        self.conv1 = nn.Conv3d(in_channels, base_width, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = _max_pool(pool1_kernel, (1, 2, 2))
        self.pool2 = _max_pool(pool2_kernel, (2, 1, 1)) if pool2_kernel else nn.Identity()

        channels, layer_index = base_width, 0
        for stage, (n_units, pattern) in enumerate(zip(units, patterns)):
            width = base_width * 2**stage
            blocks = []
            for unit in range(n_units):
                unit_spec = spec if pattern[unit] else plain
                layer_index += bool(pattern[unit])
                place = UnitPlace(layer_index, stage + 2, unit)
                stride = 2 if (stage > 0 and unit == 0) else 1
                conv2 = functools.partial(unit_spec.conv2, place=place, **cost_options)
                blocks.append(
                    Bottleneck(
                        channels,
                        width,
                        stride,
                        temporal_kernel=unit_spec.temporal_kernel,
                        conv2=conv2,
                        stride_on=stride_on,
                    )
                )
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
    stride_on: str = "conv3x3",
    **options,
) -> VideoResNet:
    """Build one of the paper's backbones.

    ``arch``: c2d, c3d, cost_a, cost_b. ``depth``: 50, 101 or "tiny" (units 1-1-1-1, width
    16; for CPU tests and the demo). ``unit_patterns`` overrides which units per stage carry
    the C3D/CoST op (tuples of 0/1). ``cost_impl`` chooses how CoST layers compute their views
    (see ``CoST``: auto, reference, conv2d, fused); all give the same numbers. Other options
    (``pool1_kernel``, ``pool2_kernel``, ``dropout``, ``coef_init``) and ``stride_on`` are the
    readings of docs/method.md. The keyword defaults here and in ``VideoResNet`` are those of
    conf/_resnet.yaml, for use from Python (tests/test_defaults.py keeps them equal).
    """
    preset = check_options(arch, depth, cost_impl, stride_on)
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
        stride_on=stride_on,
        **options,
    )


def cost_layers(model: nn.Module) -> list[CoST]:
    """The CoST modules of a network in forward order (empty for C2D and C3D)."""
    return [m for m in model.modules() if isinstance(m, CoST)]
