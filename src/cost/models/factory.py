"""A model config -> the network it describes: ``build_model``, ImageNet init, memory format, compile.

Imports neither Lightning nor matplotlib, so predicting or counting a network's MACs stays
cheap. ImageNet files are read by ``cost.checkpoints`` (the package's one weights-only
reader; docs/method.md#imagenet-initialisation).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import cast

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cost.checkpoints import imagenet_state

from .inflate import load_imagenet_2d
from .pretrained import resolve as pretrained_weights
from .resnet import build_model

# Keys of the model config that are not build_model arguments, and their values when a config
# leaves them out (checkpoints of older runs, hand-written configs in bench and tests): those of
# conf/_resnet.yaml, which tests/test_defaults.py keeps equal.
NOT_BUILD_DEFAULTS = {"pretrained": None, "inflate": "mean", "compile": False, "channels_last": False}


def build_net(model_cfg: Mapping, num_classes: int, *, log: Callable[[str], None] = print) -> nn.Module:
    """Instantiate the model config (a ``build_model`` call) and apply ImageNet init if set.

    ``log`` receives the ImageNet init report (the LightningModule passes ``rank_zero_info``).
    """
    cfg = cast(dict, OmegaConf.to_container(model_cfg)) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    pretrained, inflate, channels_last, compile_ = (
        cfg.pop(key, NOT_BUILD_DEFAULTS[key]) for key in ("pretrained", "inflate", "channels_last", "compile")
    )
    cfg.setdefault("_target_", "cost.models.build_model")
    net = instantiate(OmegaConf.create(cfg), num_classes=num_classes, _convert_="all")
    depth = cfg.get("depth", inspect.signature(build_model).parameters["depth"].default)  # absent: build_model's
    path = pretrained_weights(pretrained, depth)
    if path:
        report = load_imagenet_2d(net, imagenet_state(path), inflate=inflate)
        log(f"ImageNet init from {path}: {report}")
    if channels_last:
        net.to(memory_format=torch.channels_last_3d)
    if compile_:
        if compile_ is not True:
            raise ValueError(f"model.compile={compile_!r}: use true or false")
        net.compile()  # in place: parameter names and checkpoints stay those of the eager model
    return net
