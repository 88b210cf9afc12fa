"""Checkpoint reading: the package's one ``torch.load``, always weights-only.

Every file a user can point at (``ckpt_path``, ``resume``, ``frames.init_checkpoint``,
``model.pretrained``, predict.py's checkpoint) is untrusted: a pickle can run code when it is
loaded. Everything here reads it with ``weights_only=True`` and turns a refusal or a damaged
file into a ``CheckpointError`` naming the config key, the file and what to do. Lightning's own
restore (``trainer.fit/test(ckpt_path=...)``) gets ``weights_only=True`` too, after
``check_readable`` has read the file here first for a clear message. No Lightning import:
``cost.models.factory`` reads ImageNet files through this module. Writing checkpoints is the
Trainer's job (``cost.training.trainer.AtomicCheckpointIO``).

Weights-only loading still lets dicts and strings through, and a model config is a Hydra
config: a ``{"_target_": ...}`` anywhere in it would be called when the network is built. So
every value a command takes from a checkpoint's hyper-parameters passes ``hyper_parameters`` /
``model_config`` first: known keys, plain values, and our own builder as the only target.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

# Model config keys that do not change the trained network: its initialisation, and how it is
# run (compiled; CoST(a) folded or not), so an evaluation may set them freely.
_NOT_NETWORK_KEYS = ("pretrained", "inflate", "compile", "cost_impl")
# The one builder a saved model config may name, and the keys it may hold: those of
# conf/_resnet.yaml (a test holds the two together; this module knows nothing of Hydra).
MODEL_TARGET = "cost.models.build_model"
MODEL_KEYS = (
    "arch",
    "depth",
    "share_weights",
    "unit_patterns",
    "pool1_kernel",
    "pool2_kernel",
    "stride_on",
    "dropout",
    "coef_init",
    "base_width",
    "cost_impl",
    "compile",
    "channels_last",
    "pretrained",
    "inflate",
)
# The clip settings src/run.py saves (cost.training.runner.clip_settings); train_crop is newer.
CLIP_KEYS = ("num_frames", "frame_stride", "test_short_side", "train_crop")
_TRUST_HINT = "use a checkpoint written by src/run.py, from a source you trust"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: refused by weights-only loading, damaged, or not ours."""


def load(path, key: str) -> dict:
    """The checkpoint at ``path`` as plain containers and tensors (on the CPU).

    ``key`` is the setting that named the file (e.g. ``resume``); errors quote it. Zip-format
    files are memory-mapped, so reading the hyper-parameters of a large file is cheap.
    """
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{key}={path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        reason = next(
            (
                line.strip()
                for line in str(err).splitlines()
                if "Unsupported global" in line or "WeightsUnpickler error" in line
            ),
            str(err).splitlines()[0],
        )
        raise CheckpointError(
            f"{key}={path}: refused, the file holds Python objects that weights-only loading does not "
            f"allow ({reason}). Loading it could run arbitrary code. Use a checkpoint written by "
            f"src/run.py (or a plain state dict of tensors) from a source you trust."
        ) from None
    except (RuntimeError, EOFError, KeyError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{key}={path}: cannot read it, the file is truncated or corrupt "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'empty'}). "
            f"Delete or move it away and point {key} at another checkpoint"
            + (
                " (resume=<path to an older step checkpoint>, or resume=false to start over)"
                if key.startswith("resume")
                else ""
            )
            + "."
        ) from None


def check_readable(path, key: str) -> dict:
    """Read a Lightning checkpoint before Lightning restores it; returns its contents."""
    ckpt = load(path, key)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{key}={path}: not a Lightning checkpoint (no state_dict); use a run's checkpoints/last.ckpt or best.ckpt"
        )
    return ckpt


def plain(value) -> bool:
    """Data only: no mapping (Hydra would call a ``_target_`` in it), no object, no
    ``${...}`` (OmegaConf would resolve it once the value is in a config)."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return "${" not in value
    return isinstance(value, (list, tuple)) and all(plain(v) for v in value)


def describe(value) -> str:
    if isinstance(value, dict):
        return "a mapping" + (f" with _target_={value['_target_']!r}" if "_target_" in value else "")
    if isinstance(value, str):
        return f"the interpolation {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a list holding {describe(next(v for v in value if not plain(v)))}"
    return f"a {type(value).__name__}"


def model_config(saved, path, key: str) -> dict:
    """A checkpoint's model config as plain values of the known keys, built by ``MODEL_TARGET``.

    The network is rebuilt from data only; a ``_target_`` read from a file is never called.
    """
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{key}={path}: its model config is a {type(saved).__name__}, not a mapping; {_TRUST_HINT}"
        )
    target = saved.get("_target_", MODEL_TARGET)
    if target != MODEL_TARGET:
        raise CheckpointError(
            f"{key}={path}: model._target_={target!r}; a checkpoint's network is built by {MODEL_TARGET} "
            f"only, never by code that a file names; {_TRUST_HINT}"
        )
    for k, value in saved.items():
        if k == "_target_":
            continue
        if k not in MODEL_KEYS:
            raise CheckpointError(
                f"{key}={path}: model.{k} is not a model setting (known: {', '.join(MODEL_KEYS)}); {_TRUST_HINT}"
            )
        if not plain(value):
            raise CheckpointError(
                f"{key}={path}: model.{k} holds {describe(value)}; a checkpoint's network config must be plain "
                f"values (numbers, strings, booleans, null, lists of them); {_TRUST_HINT}"
            )
    return {**saved, "_target_": MODEL_TARGET}


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _clip(clip, path, key: str) -> dict | None:
    """The saved clip settings: positive integers (None in checkpoints written before them)."""
    if clip is None:
        return None
    if not isinstance(clip, dict):
        raise CheckpointError(
            f"{key}={path}: its clip settings are a {type(clip).__name__}, not a mapping; {_TRUST_HINT}"
        )
    for k in CLIP_KEYS[:3]:
        if k not in clip:
            raise CheckpointError(f"{key}={path}: clip.{k} is missing from its clip settings; {_TRUST_HINT}")
    for k, value in clip.items():
        if k not in CLIP_KEYS:
            raise CheckpointError(f"{key}={path}: clip.{k} is not a clip setting (known: {', '.join(CLIP_KEYS)})")
        if not _positive_int(value):
            raise CheckpointError(
                f"{key}={path}: clip.{k}={value!r}; a clip setting is a positive integer; {_TRUST_HINT}"
            )
    return dict(clip)


def hyper_parameters(path, key: str) -> dict:
    """The hyper-parameters src/run.py saved, each value a command uses checked: the model config
    (``model_config``), num_classes, the clip settings and the class names."""
    ckpt = check_readable(path, key)
    hp = ckpt.get("hyper_parameters") or {}
    if not isinstance(hp, dict) or not hp.get("model") or not hp.get("num_classes"):
        raise CheckpointError(
            f"{key}={path}: not a checkpoint written by src/run.py "
            f"(no model config or class count in its hyper-parameters)"
        )
    num_classes = hp["num_classes"]
    if not _positive_int(num_classes):
        raise CheckpointError(f"{key}={path}: num_classes={num_classes!r}; a class count is a positive integer")
    names = ckpt.get("class_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names) and len(names) in (0, num_classes)
    ):
        raise CheckpointError(
            f"{key}={path}: class_names must be a list of {num_classes} strings (one per class), "
            f"got {describe(names) if not isinstance(names, list) else f'{len(names)} items'}; {_TRUST_HINT}"
        )
    return dict(
        hp,
        model=model_config(hp["model"], path, key),
        num_classes=num_classes,
        clip=_clip(hp.get("clip"), path, key),
        class_names=names,
    )


def global_step(path, key: str = "resume") -> int:
    step = check_readable(path, key).get("global_step", 0)
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise CheckpointError(f"{key}={path}: global_step={step!r}; a step count is a whole number >= 0; {_TRUST_HINT}")
    return step


def network_state(ckpt: dict) -> dict:
    """The network's weights: a Lightning state dict without its ``net.`` prefix, or a plain one."""
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise TypeError(f"expected a state dict, got {type(state).__name__}")
    net = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
    return net or state


def network_config(model_cfg: dict) -> dict:
    """The keys of a model config that define the network (what must match to load weights)."""
    return {k: v for k, v in dict(model_cfg).items() if k not in _NOT_NETWORK_KEYS}


def check_same_network(saved: dict, wanted: dict, path, key: str, fix: str) -> None:
    """Raise when the checkpoint's network config differs from this run's (``fix`` says what to do)."""
    saved = model_config(saved, path, key)
    saved_net, wanted_net = network_config(saved), network_config(wanted)
    diffs = [
        f"model.{k}={wanted_net.get(k)!r} (checkpoint: {saved_net.get(k)!r})"
        for k in sorted(set(saved_net) | set(wanted_net))
        if k != "_target_" and str(saved_net.get(k)) != str(wanted_net.get(k))
    ]
    if diffs:
        raise CheckpointError(f"{key}={path} was trained with another network: {', '.join(diffs)}; {fix}")


def load_network(net: torch.nn.Module, path, key: str) -> None:
    """Initialise ``net`` from a checkpoint's network weights (not its optimizer); all must fit."""
    state = network_state(load(path, key))
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch: another arch, depth or class count
        raise CheckpointError(f"{key}={path} does not fit this network: {err}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{key}={path} does not fit this network: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def imagenet_state(path) -> dict:
    """``model.pretrained``: a torchvision-layout 2D ResNet state dict, read weights-only."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained={path}: no such file (a torchvision ResNet state dict; or model.pretrained=imagenet)"
        )
    return load(path, "model.pretrained")
