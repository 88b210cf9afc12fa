"""Preflight of the numeric keys that let a run start but make it fail late or mean nothing:
batch sizes, loader workers, clip counts, the stride, the learning rate, the run's length."""

from __future__ import annotations

import math

from omegaconf import DictConfig


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _loader_problems(data_cfg) -> list[str]:
    """The batch sizes (the evaluation ones may be null: ``data.batch_size``), the loader
    workers and the decoding threads."""
    problems = []
    for key, optional in (("batch_size", False), ("val_batch_size", True), ("test_batch_size", True)):
        value = data_cfg[key]
        if not (optional and value is None) and not _whole(value, 1):
            problems.append(f"data.{key}={value!r} must be a whole number >= 1" + (" (or null)" if optional else ""))
    for key, minimum in (("num_workers", 0), ("decode_threads", 1)):
        if not _whole(data_cfg[key], minimum):
            problems.append(f"data.{key}={data_cfg[key]!r} must be a whole number >= {minimum}")
    return problems


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
    lr = o.lr
    if not (_finite(lr) and lr > 0):
        problems.append(f"optim.lr={lr!r} must be a finite number > 0")
    if not _whole(o.base_batch_size, 1):
        problems.append(f"optim.base_batch_size={o.base_batch_size!r} must be a whole number >= 1")
    if t.fast_dev_run:
        return problems  # a fixed number of batches: the length and cadence keys are ignored
    steps, epochs = t.max_steps, t.max_epochs
    if not (_whole(steps, 1) or (steps == -1 and _whole(epochs, 1))):
        problems.append(
            f"trainer.max_steps={steps!r} must be a whole number >= 1 "
            "(or -1 with trainer.max_epochs >= 1 to train by epochs)"
        )
    every = t.val_check_interval
    if not (every is None or _whole(every, 1) or (isinstance(every, float) and 0 < every <= 1)):
        problems.append(
            f"trainer.val_check_interval={every!r} must be a whole number of steps >= 1, "
            "a fraction of an epoch in (0, 1], or null (once per epoch)"
        )
    return problems
