"""Models: the CoST operation, the video ResNet builder and ImageNet inflation."""

from .cost_op import VIEWS, CoST, fold_views
from .inflate import InflationReport, inflate_kernel, load_imagenet_2d
from .resnet import ARCHS, PRESETS, UNIT_SPECS, UnitSpec, VideoResNet, build_model, check_options, cost_layers

__all__ = [
    "ARCHS",
    "PRESETS",
    "UNIT_SPECS",
    "VIEWS",
    "CoST",
    "InflationReport",
    "UnitSpec",
    "VideoResNet",
    "build_model",
    "check_options",
    "cost_layers",
    "fold_views",
    "inflate_kernel",
    "load_imagenet_2d",
]
