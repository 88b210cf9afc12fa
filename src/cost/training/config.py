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


def debug_tag(debug_run) -> str:
    """Runs of a debug preset (debug_run: true) live in <name>_debug, apart from the real run."""
    return "_debug" if debug_run in (True, "true", "True") else ""


def _ckpt_run(ckpt_path) -> str:
    """eval.py's run name: the trained run's name (<run>/checkpoints/x.ckpt), else the file's stem."""
    path = Path(str(ckpt_path))
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem


def register_resolvers() -> None:
    """Idempotent: registering twice is allowed (run.py and tests both call it)."""
    for name, fn in (("repo_root", repo_root), ("data_name", _data_name), ("share_tag", _share_tag),
                     ("gpu_precision", _gpu_precision), ("debug_tag", debug_tag), ("ckpt_run", _ckpt_run)):
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


# ---------------------------------------------------------------- checks before heavy work
def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _gpus_requested(devices) -> int | None:
    """How many GPU indices ``trainer.devices`` asks for (None: "all there are")."""
    if isinstance(devices, bool):
        return None
    if isinstance(devices, int):
        return None if devices == -1 else devices
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return None
        if "," in text:
            return max(int(i) for i in text.split(",") if i.strip()) + 1
        return int(text) if text.isdigit() else None
    try:
        return max(int(i) for i in devices) + 1
    except (TypeError, ValueError):
        return None


def _device_problems(trainer_cfg) -> list[str]:
    import torch

    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda", "auto"):
        return []
    devices = trainer_cfg.get("devices", 1)
    wanted = _gpus_requested(devices)
    present = torch.cuda.device_count()
    if wanted is None or wanted <= present:
        return []
    if accelerator == "auto" and present == 0:
        if wanted == 1:
            return []
        return [(f"trainer.devices={devices} but this machine has no GPU, and with trainer.accelerator=auto "
                 f"that would start {wanted} CPU processes: set trainer.devices=1, or trainer.accelerator=cpu "
                 f"if you do want {wanted} CPU processes")]
    return [f"trainer.devices={devices} asks for {wanted} GPUs (trainer.accelerator={accelerator}) but this "
            f"machine has {present}: set trainer.devices to at most {present}"
            + ("" if present else " or trainer.accelerator=cpu")]


def _data_file_problems(data_cfg, splits) -> list[str]:
    """The data root and the annotation files the stages will read (the synthetic set is built on use)."""
    fmt = str(data_cfg.get("format", ""))
    if fmt == "synthetic":
        return []
    root = Path(str(data_cfg.get("root")))
    if not root.is_dir():
        return [(f"data.root={root} does not exist: set data.root (or paths.data_dir) to the folder that holds "
                 f"the dataset (see the README's data preparation section)")]
    needed = list(splits)
    if fmt in ("kinetics", "folder") and not data_cfg.get("class_names") and "train" not in needed:
        needed.append("train")  # the class names come from the train annotations
    if fmt == "list" and not data_cfg.get("class_names"):
        needed += [s for s in ("train", "val", "test") if s not in needed and data_cfg.get(f"{s}_split")]
    problems = []

    def check(key: str, want_dir: bool = False) -> None:
        rel = data_cfg.get(key)
        if rel in (None, ""):
            problems.append(f"data.{key} is not set: set it to the annotation file (relative to data.root={root})")
            return
        path = Path(str(rel)) if Path(str(rel)).is_absolute() else root / str(rel)
        if not (path.is_dir() if want_dir else path.is_file()):
            problems.append(f"data.{key}={rel}: {path} does not exist; set data.{key} to the right "
                            f"{'folder' if want_dir else 'file'} (relative to data.root)")

    for split in needed:
        check(f"{split}_split", want_dir=fmt == "folder")
        videos = data_cfg.get(f"{split}_videos")
        if videos and not (root / str(videos)).is_dir():
            problems.append(f"data.{split}_videos={videos}: {root / str(videos)} does not exist")
    if fmt == "moments":
        check("categories")
    if data_cfg.get("class_names"):
        check("class_names")
    return problems


def preflight(cfg: DictConfig, splits: tuple[str, ...]) -> None:
    """Settings that would fail only after minutes (or once per DDP rank): checked in a second,
    before any dataset, network or process is built. Raises one error listing every problem."""
    d = cfg.data
    problems = []
    for key, optional in (("batch_size", False), ("val_batch_size", True), ("test_batch_size", True)):
        value = d.get(key)
        if not (optional and value is None) and not _whole(value, 1):
            problems.append(f"data.{key}={value!r} must be a whole number >= 1" + (" (or null)" if optional else ""))
    for key, minimum in (("num_workers", 0), ("decode_threads", 1)):
        if key in d and not _whole(d.get(key), minimum):
            problems.append(f"data.{key}={d.get(key)!r} must be a whole number >= {minimum}")
    problems += _device_problems(cfg.trainer)
    problems += _data_file_problems(d, splits)
    if problems:
        raise ValueError("the run cannot start:\n  " + "\n  ".join(problems))
