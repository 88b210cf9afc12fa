"""One place per default: conf/ holds every value. The library keeps keyword defaults only so
that it works from Python without Hydra (docs/method.md builds a network with ``build_model``);
each such default must equal the value the composed config gives the same key, so the two
cannot drift apart. A new keyword default has to be either a config key (compared here) or
listed below as not one."""

from __future__ import annotations

import inspect

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cost.data import VideoDataModule
from cost.models.factory import NOT_BUILD_DEFAULTS
from cost.models.resnet import Bottleneck, VideoResNet, build_model, check_options
from cost.training.config import CONFIG_DIR, quote_numeric_choices
from cost.training.module import VideoClassifier

# Keyword defaults that are no config key: the class count and names come from the data, the
# clip settings and batch size from the run; mean/std are ImageNet's; the rest are building
# blocks of build_model.
NOT_CONFIG_KEYS = {
    "num_classes",
    "class_names",
    "batch_size",
    "clip",
    "mean",
    "std",
    "in_channels",
    "temporal_kernel",
    "conv2",
    "stride",
}
# A dataset's own identity and files: each data config sets them (conf/_video.yaml has `???`
# or no such key), so there is no one YAML value; the defaults name the built-in synthetic set.
DATASET_KEYS = {
    "name",
    "format",
    "root",
    "train_split",
    "val_split",
    "test_split",
    "train_videos",
    "val_videos",
    "test_videos",
    "class_names",
    "categories",
    "synthetic",
}


def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=quote_numeric_choices(["paths.output_dir=x", *overrides]))


def _plain(value):
    """Tuples as lists, so ``(256, 320)`` in code equals ``[256, 320]`` in YAML."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _keyword_defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def _base(name: str, section: str) -> dict:
    """The values a shared base (conf/_video.yaml, conf/_resnet.yaml) gives every option that
    extends it: its keys without ``???``, an interpolation (``${frames.num_frames}``) as the
    default config composes it. Presets change some (the synthetic demo's tiny depth); the
    library defaults are the base's, the paper's values."""
    raw = OmegaConf.load(CONFIG_DIR / name)
    composed = _compose()[section]
    return {
        k: OmegaConf.to_container(composed, resolve=True)[k] if OmegaConf.is_interpolation(raw, k) else raw[k]
        for k in raw
        if k != "_target_" and not OmegaConf.is_missing(raw, k)
    }


def _cases() -> list[tuple[str, dict, dict]]:
    """(what, keyword defaults, {key: YAML value}) for every library default of a config key."""
    cfg = _compose()
    data = {k: v for k, v in _base("_video.yaml", "data").items() if k not in DATASET_KEYS}
    model = _base("_resnet.yaml", "model")
    top = {
        "freeze_bn": cfg.frames.freeze_bn,
        "init_checkpoint": cfg.frames.init_checkpoint,
        "eval_chunk": cfg.eval_chunk,
        "test_average": cfg.test_average,
    }
    return [
        ("VideoDataModule", _keyword_defaults(VideoDataModule.__init__), data),
        ("build_model", _keyword_defaults(build_model), model),
        ("VideoResNet", _keyword_defaults(VideoResNet.__init__), model),
        ("Bottleneck", _keyword_defaults(Bottleneck.__init__), model),
        ("check_options", _keyword_defaults(check_options), model),
        ("build_net (NOT_BUILD_DEFAULTS)", NOT_BUILD_DEFAULTS, model),
        ("VideoClassifier", _keyword_defaults(VideoClassifier.__init__), top),
    ]


@pytest.mark.parametrize("what,defaults,yaml", _cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_each_library_default_equals_the_yaml(what, defaults, yaml):
    differ = {k: (v, yaml[k]) for k, v in defaults.items() if k in yaml and _plain(v) != _plain(yaml[k])}
    assert not differ, f"{what}: code default != conf/ value for {differ}"
    unknown = set(defaults) - set(yaml) - NOT_CONFIG_KEYS - (DATASET_KEYS if what == "VideoDataModule" else set())
    assert not unknown, f"{what}: keyword defaults that are neither a config key nor listed here: {sorted(unknown)}"
    assert set(defaults) & set(yaml), f"{what}: nothing compared"
