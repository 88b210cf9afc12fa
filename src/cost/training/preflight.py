"""Checks before heavy work, shared by run.py, eval.py and the runner: launch mode, devices,
data files, batch sizes and the typed config sections. Each problem names its config key.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def multiprocess_trainer(trainer_cfg) -> bool:
    """Whether Lightning will start one process per device (DDP-like strategies)."""
    strategy, devices, nodes = str(trainer_cfg["strategy"]), trainer_cfg["devices"], int(trainer_cfg["num_nodes"])
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
            f"(trainer.strategy={cfg.trainer.strategy}, trainer.devices={cfg.trainer.devices}): "
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
    experiment = hc.runtime.choices.get("experiment")  # a Hydra choice: absent when the group is unset
    sweep = " ".join(f"{k}={v}" for k, v in params.items())
    return (
        f"experiment={experiment} is a sweep ({sweep}): run all of it with "
        f"`python experiments/sweep.py experiment={experiment}` or "
        f"`python src/run.py -m experiment={experiment} hydra/launcher=slurm`, "
        f"or one job by also setting {', '.join(missing)}"
    )


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

    accelerator = str(trainer_cfg.accelerator)
    if accelerator not in ("gpu", "cuda", "auto"):
        return []
    devices = trainer_cfg.devices
    wanted = _gpus_requested(devices)
    present = torch.cuda.device_count()
    if wanted is None or wanted <= present:
        return []
    if accelerator == "auto" and present == 0:
        if wanted == 1:
            return []
        return [
            (
                f"trainer.devices={devices} but this machine has no GPU, and with trainer.accelerator=auto "
                f"that would start {wanted} CPU processes: set trainer.devices=1, or trainer.accelerator=cpu "
                f"if you do want {wanted} CPU processes"
            )
        ]
    return [
        f"trainer.devices={devices} asks for {wanted} GPUs (trainer.accelerator={accelerator}) but this "
        f"machine has {present}: set trainer.devices to at most {present}"
        + ("" if present else " or trainer.accelerator=cpu")
    ]


def _data_file_problems(data_cfg, splits) -> list[str]:
    """The data root and the annotation files the stages will read (the synthetic set is built on use).
    ``.get`` here reads the keys that only some formats have (class_names, categories, *_videos)."""
    fmt = str(data_cfg.format)
    if fmt == "synthetic":
        return []
    root = Path(str(data_cfg.root))
    if not root.is_dir():
        return [
            (
                f"data.root={root} does not exist: set data.root (or paths.data_dir) to the folder that holds "
                f"the dataset (see the README's data preparation section)"
            )
        ]
    needed = list(splits)
    if fmt in ("kinetics", "folder") and not data_cfg.get("class_names") and "train" not in needed:
        needed.append("train")  # the class names come from the train annotations
    if fmt == "list" and not data_cfg.get("class_names"):
        needed += [s for s in ("train", "val", "test") if s not in needed and data_cfg[f"{s}_split"]]
    problems = []

    def check(key: str, want_dir: bool = False) -> None:
        rel = data_cfg[key]
        if rel in (None, ""):
            problems.append(f"data.{key} is not set: set it to the annotation file (relative to data.root={root})")
            return
        path = Path(str(rel)) if Path(str(rel)).is_absolute() else root / str(rel)
        if not (path.is_dir() if want_dir else path.is_file()):
            problems.append(
                f"data.{key}={rel}: {path} does not exist; set data.{key} to the right "
                f"{'folder' if want_dir else 'file'} (relative to data.root)"
            )

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


def _section_problems(cfg: DictConfig) -> list[str]:
    """The typed sections (optim, callbacks) read later in the run: a missing or unknown key now."""
    from .callbacks import CallbacksConfig
    from .config import section
    from .schedules import OptimConfig

    problems = []
    for cls, key in ((OptimConfig, "optim"), (CallbacksConfig, "callbacks")):
        try:
            section(cls, cfg[key], key)
        except ValueError as err:
            problems.append(str(err))
    return problems


def preflight(cfg: DictConfig, splits: tuple[str, ...]) -> None:
    """Settings that would fail only after minutes (or once per DDP rank): checked in a second,
    before any dataset, network or process is built. Raises one error listing every problem."""
    d = cfg.data
    problems = _section_problems(cfg)
    for key, optional in (("batch_size", False), ("val_batch_size", True), ("test_batch_size", True)):
        value = d[key]
        if not (optional and value is None) and not _whole(value, 1):
            problems.append(f"data.{key}={value!r} must be a whole number >= 1" + (" (or null)" if optional else ""))
    for key, minimum in (("num_workers", 0), ("decode_threads", 1)):
        if not _whole(d[key], minimum):
            problems.append(f"data.{key}={d[key]!r} must be a whole number >= {minimum}")
    problems += _device_problems(cfg.trainer)
    problems += _data_file_problems(d, splits)
    if problems:
        raise ValueError("the run cannot start:\n  " + "\n  ".join(problems))


VALID_TEST_CKPT = ("best", "last")


def check_config(cfg: DictConfig) -> None:
    """Errors that name the key and the fix, before anything heavy starts."""
    check_launch(cfg)
    arch = cfg.model.arch
    from cost.models import ARCHS, PRESETS

    if arch not in ARCHS:
        raise ValueError(f"model.arch={arch!r} is not valid; choose one of {', '.join(ARCHS)} (or model=<name>)")
    depth = cfg.model.depth
    if depth not in PRESETS and str(depth) not in {str(k) for k in PRESETS}:
        raise ValueError(f"model.depth={depth!r} is not valid; choose one of {', '.join(map(str, PRESETS))}")
    if "test_ckpt" in cfg and cfg.test_ckpt not in VALID_TEST_CKPT:  # eval.yaml has none
        raise ValueError(f"test_ckpt={cfg.test_ckpt!r} is not valid; choose one of {', '.join(VALID_TEST_CKPT)}")
    if cfg.frames.num_frames < 1:
        raise ValueError(f"frames.num_frames={cfg.frames.num_frames} must be >= 1")
