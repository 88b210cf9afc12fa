"""What a run on this machine will use: ``python -m cost.env [overrides]`` (``make check-gpu``).

Prints torch and the CUDA version it was built with, the GPUs and their bf16 support, which
video decoders import (decord, PyAV, NVDEC through PyNvVideoCodec), the data and output roots
the run config resolves to (COST_DATA_DIR / COST_OUTPUT_DIR or overrides such as
``paths.data_dir=/x data=kinetics``), and whether W&B would log online or offline.
Run it before a long job: a CPU build of torch or a missing decoder shows up here, not hours later.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys


def _module_version(name: str) -> str | None:
    """The module's version when it imports here, else None."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "installed"))


def torch_lines() -> list[str]:
    import torch

    cuda = torch.version.cuda
    lines = [f"torch:    {torch.__version__} ({'CUDA ' + cuda + ' build' if cuda else 'CPU build, no CUDA'})"]
    if torch.cuda.is_available():
        lines.append(f"cuDNN:    {torch.backends.cudnn.version()}")
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(
                f"GPU {i}:    {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}"
            )
        bf16 = torch.cuda.is_bf16_supported()
        lines.append(
            f"bf16:     {'yes' if bf16 else 'no'} (trainer.precision=bf16-mixed "
            f"{'runs on the GPU' if bf16 else 'is not supported: use 16-mixed or 32'})"
        )
    else:
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            lines.append("GPUs:     none with CUDA; Apple MPS is available (trainer.accelerator=mps)")
        else:
            lines.append("GPUs:     none visible to torch" + ("" if cuda else " (this torch has no CUDA)"))
        lines.append("bf16:     no CUDA GPU (bf16-mixed would run on the CPU)")
    return lines


def decoder_lines() -> list[str]:
    decord = _module_version("decord")
    av = _module_version("av")
    from cost.data.nvdec import nvdec_unavailable

    nvdec = _module_version("PyNvVideoCodec")
    why_not = nvdec_unavailable()
    return [
        f"decord:   {decord or 'not installed (only data.decode_backend=decord needs it)'}",
        f"PyAV:     {av or 'not installed (required: pip install -e .)'}",
        f"NVDEC:    PyNvVideoCodec {nvdec or 'not installed'}; data.decode_backend=nvdec "
        + ("can run" if why_not is None else f"cannot run ({why_not})"),
    ]


def config_lines(overrides: list[str]) -> list[str]:
    """Data and output roots and the W&B mode of the run config, as src/run.py would compose it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from cost.training.config import CONFIG_DIR, quote_numeric_choices
    from cost.training.loggers import _wandb_mode

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=quote_numeric_choices(overrides))
    env = {k: os.environ[k] for k in ("COST_DATA_DIR", "COST_OUTPUT_DIR") if os.environ.get(k)}
    # Optional keys: the logger group may leave W&B out, and W&B options all have defaults.
    wandb_cfg = cfg.logger.get("wandb")
    if wandb_cfg:
        mode = _wandb_mode(wandb_cfg.get("mode"))
        wandb = mode + (
            ""
            if mode != "offline"
            else " (runs are kept under <run dir>/wandb; `wandb login` or WANDB_MODE=online to log online)"
        )
    else:
        wandb = "not used (logger has no wandb)"
    return [
        f"data dir: {cfg.paths.data_dir}",
        f"data:     {cfg.data.format} at {cfg.data.root}",
        f"outputs:  {cfg.paths.log_dir}/runs",
        f"from env: {', '.join(f'{k}={v}' for k, v in env.items()) or 'COST_DATA_DIR and COST_OUTPUT_DIR not set'}",
        f"W&B:      {wandb}",
    ]


def report(overrides: list[str] | None = None) -> list[str]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"python:   {platform.python_version()} on {platform.system()} {platform.machine()}, {cpus} CPUs",
        *torch_lines(),
        *decoder_lines(),
        *config_lines(list(overrides or [])),
    ]


def main(argv: list[str] | None = None) -> int:
    print("\n".join(report(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
