"""Config helpers shared by run.py, eval.py and the tests: resolvers and early checks.

The resolvers make paths and run names independent of the current directory:
``${repo_root:}`` is the folder holding ``src/`` and ``conf/`` (found from this file).
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO_ROOT / "conf"


def repo_root() -> str:
    """The repository root; ``COST_ROOT`` overrides it (e.g. for an installed package)."""
    return os.environ.get("COST_ROOT", str(REPO_ROOT))


def _data_name(*, _root_) -> str:
    name = OmegaConf.select(_root_, "data.name", default=None) or OmegaConf.select(_root_, "data.format", default=None)
    if name:
        return str(name)
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get("data", "data"))
    except Exception:  # noqa: BLE001 - outside a Hydra run there is no choice to read
        return "data"


def _share_tag(share) -> str:
    return "" if share in (True, "true", "True", None) else "_noshare"


def _gpu_precision(accelerator, gpu: str = "bf16-mixed", cpu: str = "32-true") -> str:
    """`gpu` precision where the accelerator is (or auto-detects) a CUDA GPU, else `cpu`."""
    if str(accelerator) in ("gpu", "cuda"):
        return gpu
    if str(accelerator) == "auto":
        import torch

        return gpu if torch.cuda.is_available() else cpu
    return cpu


def register_resolvers() -> None:
    """Idempotent: registering twice is allowed (run.py and tests both call it)."""
    for name, fn in (("repo_root", repo_root), ("data_name", _data_name), ("share_tag", _share_tag),
                     ("gpu_precision", _gpu_precision)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()


def dataset_name(cfg: DictConfig) -> str:
    return _data_name(_root_=cfg)


def multiprocess_trainer(trainer_cfg) -> bool:
    """Whether Lightning will start one process per device (DDP-like strategies)."""
    strategy = str(trainer_cfg.get("strategy", "auto"))
    devices = trainer_cfg.get("devices", 1)
    nodes = int(trainer_cfg.get("num_nodes", 1) or 1)
    if "ddp" in strategy or "fsdp" in strategy or "deepspeed" in strategy:
        return True
    if nodes > 1:
        return True
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    if isinstance(devices, str):
        if devices in ("auto", "-1"):
            return True
        return "," in devices or (devices.isdigit() and int(devices) > 1)
    try:
        return len(devices) > 1
    except TypeError:
        return False


def check_launch(cfg: DictConfig) -> None:
    """Stop Hydra -m + Lightning DDP on the basic launcher before it hangs or re-sweeps.

    Lightning's DDP starts the other ranks by re-running the command line, which under
    ``-m`` with the basic (in-process) launcher re-runs the whole sweep in every rank.
    """
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - not under Hydra (tests calling the runner directly)
        return
    if hc.mode != RunMode.MULTIRUN:
        return
    launcher = str(OmegaConf.select(hc, "launcher._target_", default="") or "")
    if "BasicLauncher" not in launcher:
        return
    if multiprocess_trainer(cfg.trainer):
        raise RuntimeError(
            "Hydra multirun (-m) with the basic launcher cannot run Lightning DDP "
            f"(trainer.strategy={cfg.trainer.get('strategy')}, trainer.devices={cfg.trainer.get('devices')}): "
            "every DDP rank would re-run the whole sweep or hang. Either use the SLURM launcher "
            "(add hydra/launcher=slurm, conf/hydra/launcher/slurm.yaml, built on hydra-submitit-launcher's "
            "submitit_slurm) or run the jobs one by one, each its own process tree: "
            "python experiments/sweep.py <the same overrides, without -m>."
        )


def unswept_experiment() -> str | None:
    """The one-line reason to stop when an experiment that defines a sweep
    (``hydra.sweeper.params``) runs as a single job without ``-m``; None when that is fine:
    a multirun, no sweep, or every swept key given on the command line (one job of the
    sweep, which is how experiments/sweep.py starts each job)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - not under Hydra
        return None
    params = OmegaConf.select(hc, "sweeper.params", default=None) or {}
    if hc.mode == RunMode.MULTIRUN or not params:
        return None
    given = {o.split("=", 1)[0].lstrip("+~") for o in hc.overrides.task}
    missing = [k for k in params if k not in given]
    if not missing:
        return None
    experiment = hc.runtime.choices.get("experiment")
    sweep = " ".join(f"{k}={v}" for k, v in params.items())
    return (
        f"experiment={experiment} is a sweep ({sweep}): run all of it with "
        f"`python experiments/sweep.py experiment={experiment}` or `python src/run.py -m experiment={experiment} hydra/launcher=slurm`, "
        f"or one job by also setting {', '.join(missing)}"
    )


# Config groups whose option names are numbers (conf/frames/8.yaml, 32.yaml). Hydra parses
# `frames=32` as an int and rejects it as a group choice, so the entry points quote it.
NUMERIC_GROUPS = ("frames",)


def quote_numeric_choices(args: list[str]) -> list[str]:
    """``frames=32`` -> ``frames='32'`` (also in sweeps: ``frames=8,32``); others unchanged."""
    out = []
    for arg in args:
        for group in NUMERIC_GROUPS:
            for prefix in (group + "=", "+" + group + "=", "~" + group + "="):
                if arg.startswith(prefix):
                    values = arg[len(prefix):].split(",")
                    if values and all(v.isdigit() for v in values):
                        arg = prefix + ",".join(f"'{v}'" for v in values)
        out.append(arg)
    return out
