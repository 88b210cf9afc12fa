"""Checkpoint reading: the package's one ``torch.load``, always weights-only.

Every file a user can point at (``ckpt_path``, ``resume``, ``frames.init_checkpoint``,
``model.pretrained``, predict.py's checkpoint) is untrusted: a pickle can run code when it is
loaded. Everything here reads it with ``weights_only=True`` and turns a refusal or a damaged
file into a ``CheckpointError`` naming the config key, the file and what to do. Lightning's own
restore (``trainer.fit/test(ckpt_path=...)``) gets ``weights_only=True`` too, after
``check_readable`` has read the file here first for a clear message. No Lightning import:
``cost.models.factory`` reads ImageNet files through this module. Writing checkpoints is the
Trainer's job (``cost.training.trainer.AtomicCheckpointIO``).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

# Model config keys that do not change the trained network: its initialisation, and how it is
# run (compiled; CoST(a) folded or not), so an evaluation may set them freely.
_NOT_NETWORK_KEYS = ("pretrained", "inflate", "compile", "cost_impl")


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


def hyper_parameters(path, key: str) -> dict:
    """The hyper-parameters src/run.py saved (model config, num_classes, clip settings)."""
    ckpt = check_readable(path, key)
    hp = ckpt.get("hyper_parameters") or {}
    if not hp.get("model") or not hp.get("num_classes"):
        raise CheckpointError(
            f"{key}={path}: not a checkpoint written by src/run.py "
            f"(no model config or class count in its hyper-parameters)"
        )
    return dict(hp, class_names=ckpt.get("class_names"))


def global_step(path, key: str = "resume") -> int:
    return int(check_readable(path, key).get("global_step", 0))


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
