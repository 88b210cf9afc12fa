"""Preflight of how a run launches and on which devices: Hydra multirun with DDP, a sweep
run as one job, and ``trainer.devices`` against the GPUs present."""

from __future__ import annotations

from typing import cast

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


def check_launch(trainer_cfg: DictConfig) -> None:
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
    launcher = str(OmegaConf.select(cast(DictConfig, hc), "launcher._target_", default="") or "")
    if "BasicLauncher" not in launcher:
        return
    if multiprocess_trainer(trainer_cfg):
        raise RuntimeError(
            "Hydra multirun (-m) with the basic launcher cannot run Lightning DDP "
            f"(trainer.strategy={trainer_cfg.strategy}, trainer.devices={trainer_cfg.devices}): "
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
    params = OmegaConf.select(cast(DictConfig, hc), "sweeper.params", default=None) or {}
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
