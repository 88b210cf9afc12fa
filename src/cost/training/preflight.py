"""Checks before heavy work, shared by run.py, eval.py and the runner: launch mode, devices,
data files, batch sizes and the typed config sections. Each problem names its config key.
"""

from __future__ import annotations

import math
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


def _gpu_indices(devices) -> list[int] | None:
    """The GPU indices of an index list (``[0, 3]``, ``"0,3"``, ``"3,"``); None for anything else."""
    if isinstance(devices, str):
        devices = [i for i in devices.strip().strip("[]").split(",") if i.strip()]
    try:
        indices = [int(i) for i in devices if not isinstance(i, bool)]
    except (TypeError, ValueError):
        return None
    return indices if indices and min(indices) >= 0 and len(indices) == len(devices) else None


def _devices_asked(devices) -> tuple[str, int | None]:
    """How Lightning reads ``trainer.devices``: ("all", None) for auto/-1, ("count", n), or
    ("indices", highest index + 1) for an index list ("0,3" uses GPUs 0 and 3, so it needs 4);
    ("invalid", None) for anything else."""
    if isinstance(devices, bool):
        return "invalid", None
    if isinstance(devices, str) and devices.strip() in ("auto", "-1"):
        return "all", None
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    if isinstance(devices, int):
        return ("all", None) if devices == -1 else ("count", devices) if devices >= 1 else ("invalid", None)
    indices = _gpu_indices(devices)
    return ("invalid", None) if indices is None else ("indices", max(indices) + 1)


def _device_problems(trainer_cfg) -> list[str]:
    import torch

    accelerator = str(trainer_cfg.accelerator)
    devices = trainer_cfg.devices
    kind, wanted = _devices_asked(devices)
    if kind == "invalid":
        return [f"trainer.devices={devices!r} is not a device count, a list of GPU indices (0,3 or [0,3]) or auto"]
    if accelerator not in ("gpu", "cuda", "auto"):
        return []
    present = torch.cuda.device_count()
    if wanted is None or wanted <= present:
        return []
    if accelerator == "auto" and present == 0:
        if kind == "count" and wanted == 1:
            return []
        if kind == "indices":
            return [
                f"trainer.devices={devices} names GPU indices but this machine has no GPU: set trainer.devices=1, "
                "or trainer.accelerator=cpu trainer.devices=<number of CPU processes>"
            ]
        return [
            (
                f"trainer.devices={devices} but this machine has no GPU, and with trainer.accelerator=auto "
                f"that would start {wanted} CPU processes: set trainer.devices=1, or trainer.accelerator=cpu "
                f"if you do want {wanted} CPU processes"
            )
        ]
    fix = "" if present else " or trainer.accelerator=cpu"
    if kind == "indices":
        use = f"use indices below {present}" if present else "set trainer.accelerator=cpu"
        return [
            f"trainer.devices={devices} uses GPU index {wanted - 1}, so it needs {wanted} GPUs "
            f"(trainer.accelerator={accelerator}), but this machine has {present}: {use}"
        ]
    return [
        f"trainer.devices={devices} asks for {wanted} GPUs (trainer.accelerator={accelerator}) but this "
        f"machine has {present}: set trainer.devices to at most {present}{fix}"
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
    from .callbacks import CallbacksConfig, check_callbacks
    from .config import section
    from .schedules import OptimConfig, check_recipe

    problems = []
    for cls, key in ((OptimConfig, "optim"), (CallbacksConfig, "callbacks")):
        try:
            section(cls, cfg[key], key)
            (check_recipe if cls is OptimConfig else check_callbacks)(cfg[key])
        except ValueError as err:
            problems.append(str(err))
    return problems


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a run directory: it must be one path component under
    ``${paths.log_dir}/runs`` (a separator or ``..`` would put, or overwrite, a run elsewhere)."""
    text = str(name)
    bad = [c for c in text if ord(c) < 32 or ord(c) == 127]
    if not text.strip():
        why = "is empty"
    elif "/" in text or "\\" in text:
        why = "holds a path separator"
    elif text in (".", ".."):
        why = "is a relative directory"
    elif bad:
        why = f"holds the control character {bad[0]!r}"
    else:
        return None
    return (
        f"name={text!r} {why}: a run name is one folder name under ${{paths.log_dir}}/runs; "
        "give a plain name (e.g. name=my_run), and set paths.log_dir to put runs elsewhere"
    )


def check_name(name) -> None:
    """The run's own check of ``name``; under Hydra the ``${run_name:}`` resolver of
    conf/hydra/default.yaml has refused it already, before Hydra creates the run directory."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _stride_problems(frame_stride, num_frames) -> list[str]:
    """``data.frame_stride`` (an int or {frames: stride}) gives a stride >= 1 for ``num_frames``."""
    from cost.data.sampling import resolve_stride

    if not _whole(num_frames, 1):
        return []  # reported as frames.num_frames
    try:
        stride = resolve_stride(frame_stride, num_frames)
    except (TypeError, ValueError) as err:
        if str(err).startswith("data.frame_stride"):
            return [str(err)]
        return [f"data.frame_stride={frame_stride} gives no whole stride for {num_frames} frames"]
    return [] if stride >= 1 else [f"data.frame_stride={frame_stride} gives stride {stride}: a stride must be >= 1"]


def _numeric_problems(cfg: DictConfig, training: bool = True) -> list[str]:
    """Values that let a run start but make it fail late or mean nothing (zero clips, a NaN lr,
    no training steps); the optimizer and the run's length only when ``training``."""
    d, t, o = cfg.data, cfg.trainer, cfg.optim
    problems = []
    for key, value in (
        ("frames.num_frames", cfg.frames.num_frames),
        ("data.test_clips", d.test_clips),
        ("data.test_crops", d.test_crops),
    ):
        if not _whole(value, 1):
            problems.append(f"{key}={value!r} must be a whole number >= 1")
    problems += _stride_problems(d.frame_stride, cfg.frames.num_frames)
    if not training:
        return problems
    lr = o.get("lr")
    if not (_finite(lr) and lr > 0):
        problems.append(f"optim.lr={lr!r} must be a finite number > 0")
    if not _whole(o.get("base_batch_size"), 1):
        problems.append(f"optim.base_batch_size={o.get('base_batch_size')!r} must be a whole number >= 1")
    if t.get("fast_dev_run"):
        return problems  # a fixed number of batches: the length and cadence keys are ignored
    steps, epochs = t.get("max_steps"), t.get("max_epochs")
    if not (_whole(steps, 1) or (steps == -1 and _whole(epochs, 1))):
        problems.append(
            f"trainer.max_steps={steps!r} must be a whole number >= 1 "
            "(or -1 with trainer.max_epochs >= 1 to train by epochs)"
        )
    every = t.get("val_check_interval")
    if not (every is None or _whole(every, 1) or (isinstance(every, float) and 0 < every <= 1)):
        problems.append(
            f"trainer.val_check_interval={every!r} must be a whole number of steps >= 1, "
            "a fraction of an epoch in (0, 1], or null (once per epoch)"
        )
    return problems


def _train_size(data_cfg) -> tuple[int, str] | None:
    """An upper bound on the training split's size and where it comes from, read without
    parsing the dataset: the non-blank lines of the annotation file, or, for a synthetic set
    not generated yet, its configured count. None for the folder format."""
    fmt, rel = str(data_cfg.format), data_cfg.get("train_split")
    if fmt == "folder" or rel in (None, ""):
        return None
    path = Path(str(rel)) if Path(str(rel)).is_absolute() else Path(str(data_cfg.root)) / str(rel)
    if path.is_file():
        with open(path, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        return lines, f"the {lines} lines of data.train_split={rel}"
    if fmt == "synthetic":
        return int(data_cfg.synthetic.num_train), "data.synthetic.num_train"
    return None  # a missing file is reported by _data_file_problems


def _batch_vs_split(cfg: DictConfig) -> list[str]:
    """A step's total batch larger than the training split cannot be filled (and would scale
    the lr by a batch that never exists)."""
    batch = cfg.data.batch_size
    if not _whole(batch, 1):
        return []
    kind, count = _devices_asked(cfg.trainer.devices)
    indices = _gpu_indices(cfg.trainer.devices) if kind == "indices" else None
    processes = count if kind == "count" else len(indices) if indices else 1  # "all": at least one
    processes *= int(cfg.trainer.num_nodes)
    size = _train_size(cfg.data)
    if size is None or batch * processes <= size[0]:
        return []
    limit = size[0] // processes
    return [
        f"data.batch_size={batch} x {processes} process(es) is more clips than the training split has "
        f"({size[0]} videos at most, from {size[1]}): set data.batch_size to at most {max(limit, 1)}"
    ]


def _added_key_problems(overrides: list[str], cfg: DictConfig) -> list[str]:
    """``+key=value`` on the command line adds a key no config file has, so nothing reads it
    unless its section hands every key to a callable (conf/README.md, "Added keys"):
    ``trainer`` (``pl.Trainer``), ``data`` (``VideoDataModule``), ``logger.<name>`` (its
    class; W&B also takes ``wandb.init``'s keys) and a whole new ``logger.<name>``. ``optim``
    and ``callbacks`` are typed sections checked by ``_section_problems``; config groups and
    ``hydra.*`` are Hydra's. Anything else added is an error; ``++key`` (add or set) only in
    the sections with a signature."""
    import inspect

    import pytorch_lightning as pl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cost.data import VideoDataModule

    from .config import CONFIG_DIR

    def params(fn) -> set[str]:
        return set(inspect.signature(fn).parameters) - {"self", "args", "kwargs"}

    # Trainer arguments that build_trainer sets itself would be overridden silently.
    trainer = params(pl.Trainer.__init__) - {
        "callbacks", "logger", "default_root_dir", "enable_checkpointing", "enable_progress_bar",
        "gradient_clip_val", "plugins",
    }  # fmt: skip
    problems = []
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.key_or_group
        if not (o.is_add() or o.is_force_add()) or key.split(".")[0].split("/")[0] in ("hydra", "optim", "callbacks"):
            continue
        if "/" in key or (CONFIG_DIR / key.replace(".", "/")).is_dir():
            continue  # a config group choice
        parts = key.split(".")
        if parts[0] == "trainer" and len(parts) > 1 and parts[1] in trainer:
            continue
        if parts[0] == "data" and len(parts) == 2 and parts[1] in params(VideoDataModule.__init__):
            continue
        if parts[0] == "logger" and len(parts) == 2:
            continue  # a new logger: build_loggers needs its _target_
        if parts[0] == "logger" and len(parts) == 3:
            options = _logger_options(cfg, parts[1])
            if options is None or parts[2] in options:
                continue
        if o.is_force_add() and parts[0] not in ("trainer", "data", "logger"):
            continue  # ++ sets an existing key too: checked only where a signature says what exists
        problems.append(
            f"+{key}: no config file has this key and nothing reads it (a typo?); "
            f"see `python src/run.py --cfg job` for the keys, and conf/README.md (Added keys)"
        )
    return problems


def _logger_options(cfg: DictConfig, name: str) -> set[str] | None:
    """The keys ``logger.<name>`` may hold: its class's arguments (W&B: also ``wandb.init``'s);
    None when the class takes any keyword."""
    import inspect

    from hydra.utils import get_class
    from pytorch_lightning.loggers import WandbLogger

    from .callbacks import _wandb_options

    target = OmegaConf.select(cfg, f"logger.{name}._target_", default=None)
    try:
        cls = get_class(str(target)) if target else None
    except Exception:  # noqa: BLE001 - a wrong _target_: build_loggers names it
        cls = None
    if cls is None:
        return None
    if issubclass(cls, WandbLogger):
        return _wandb_options() | {"_target_"}
    names = {"_target_"}
    for klass in cls.__mro__:  # **kwargs handed on to the base class: its arguments too
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            names |= set(params) - {"self", "args", "kwargs"}
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return names
    return None


def added_key_problems(cfg: DictConfig) -> list[str]:
    """``_added_key_problems`` on this Hydra job's command line (none outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not under Hydra (tests calling the runner directly)
        return []
    return _added_key_problems(overrides, cfg)


def preflight(cfg: DictConfig, splits: tuple[str, ...]) -> None:
    """Settings that would fail only after minutes (or once per DDP rank), or make a run
    meaningless: checked in a second, before any dataset, network or process is built. Raises
    one error listing every problem, each naming its key."""
    d = cfg.data
    problems = _section_problems(cfg) + added_key_problems(cfg)
    for key, optional in (("batch_size", False), ("val_batch_size", True), ("test_batch_size", True)):
        value = d[key]
        if not (optional and value is None) and not _whole(value, 1):
            problems.append(f"data.{key}={value!r} must be a whole number >= 1" + (" (or null)" if optional else ""))
    for key, minimum in (("num_workers", 0), ("decode_threads", 1)):
        if not _whole(d[key], minimum):
            problems.append(f"data.{key}={d[key]!r} must be a whole number >= {minimum}")
    problems += _numeric_problems(cfg, training="train" in splits)
    problems += _device_problems(cfg.trainer)
    problems += _data_file_problems(d, splits)
    if "train" in splits:
        problems += _batch_vs_split(cfg)
    if problems:
        raise ValueError("the run cannot start:\n  " + "\n  ".join(problems))


VALID_TEST_CKPT = ("best", "last")


def check_config(cfg: DictConfig) -> None:
    """Errors that name the key and the fix, before anything heavy starts."""
    check_name(cfg.name)
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
