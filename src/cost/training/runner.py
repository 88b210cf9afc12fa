"""What run.py and eval.py do, as functions the tests can call: fit, test, write the outputs.

Orchestration only: the run directory (docs/run-directory.md) is written by ``outputs`` (a
callback) and ``report``; what a run starts from is looked up in ``restore``; the Trainer is
built in ``trainer``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only, rank_zero_warn

from cost import checkpoints
from cost.models import pretrained

from .callbacks import build_callbacks, build_loggers, exit_on_signal, log_config
from .config import dataset_name, debug_tag, resolved
from .module import VideoClassifier
from .outputs import EvaluationOutputs, keep_curves_up_to
from .preflight import check_config, preflight
from .report import provenance, read_results, write_results
from .restore import (
    CHECKPOINT_DIR,
    command_line_overrides,
    from_checkpoint,
    initial_weights,
    resume_checkpoint,
    run_data,
)
from .rundir import RunLock, delete_previous, move_aside, save_config
from .trainer import build_trainer, global_rank, speed_defaults_note


def clip_settings(dm) -> dict:
    """What a clip is (saved in the checkpoint; eval.py and predict.py reuse it)."""
    return {
        "num_frames": int(dm.num_frames),
        "frame_stride": int(dm.stride),
        "test_short_side": int(dm.test_short_side),
        "train_crop": int(dm.train_crop),
    }


def build_module(
    cfg: DictConfig,
    batch_size: int | None,
    init_ckpt: str | None = None,
    weights: str | None = None,
    clip: dict | None = None,
    num_classes: int | None = None,
) -> VideoClassifier:
    """``init_ckpt`` and ``weights`` (a local ImageNet file) come from ``initial_weights``; both
    None: the network's weights come from the checkpoint that Lightning restores."""
    model = resolved(cfg.model)
    model["pretrained"] = weights
    return VideoClassifier(
        model=model,
        optim=resolved(cfg.optim),
        num_classes=num_classes,
        freeze_bn=bool(cfg.frames.freeze_bn),
        init_checkpoint=init_ckpt,
        eval_chunk=int(cfg.eval_chunk),
        batch_size=batch_size,
        test_average=str(cfg.test_average),
        clip=clip,
    )


def _take_global_rank(cfg: DictConfig) -> None:
    """From the start, rank zero is the process Lightning will make global rank zero, under any
    launcher (the run lock, the run directory's files, the rank-zero prints). Plain
    ``rank_zero_only.rank`` reads RANK or LOCAL_RANK only, so on a cluster launched with NODE_RANK
    alone every node's first process took itself for rank zero until the Trainer set it."""
    rank_zero_only.rank = global_rank(cfg)


def _start_fresh(cfg: DictConfig, output_dir: Path) -> None:
    """Rank zero, before a run starts from step 0: keep what an earlier run left here."""
    runs = Path(cfg.paths.log_dir) / "runs"  # nothing outside it is moved or deleted
    if cfg.overwrite:
        deleted = delete_previous(output_dir, runs)
        if deleted:
            rank_zero_warn(
                f"overwrite=true: deleted the previous run's files in {output_dir}: "
                f"{', '.join(p.name for p in deleted)}"
            )
        return
    moved = move_aside(output_dir, runs)
    if moved is not None:
        rank_zero_warn(
            f"starting run {output_dir.name!r} over: the previous run's files were moved to {moved} "
            f"(delete that folder when you no longer need it; overwrite=true deletes instead)"
        )


def _finish_wandb(loggers: list) -> None:
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _close_process_group() -> None:
    """All ranks leave together and close the process group that Lightning leaves open: a
    DDP rank that exits with a live gloo group can abort ("terminate called without an
    active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _finish(
    cfg: DictConfig,
    trainer: pl.Trainer,
    module: VideoClassifier,
    output_dir: Path,
    loggers: list,
    extra: dict,
    started: float,
    run_type: str,
    previous: dict | None = None,
) -> dict | None:
    """Rank zero writes results.json and prints the tables; every rank then closes W&B and the
    process group. Returns the record on rank zero."""
    record = None
    if trainer.is_global_zero:
        extra = {**extra, **provenance(cfg, trainer.strategy.root_device, started, run_type)}
        record = write_results(cfg, module, output_dir, extra, previous)
    _finish_wandb(loggers)
    _close_process_group()
    return record


def train(cfg: DictConfig) -> dict | None:
    """Fit, test the best (or last) checkpoint, write results.json; returns it on rank zero.
    Rank zero holds the run directory's lock from the first check to the end."""
    started = time.time()
    check_config(cfg)
    _take_global_rank(cfg)
    if note := speed_defaults_note(cfg):
        rank_zero_info(note)
    preflight(cfg, ("train", "val", "test"))
    output_dir = Path(cfg.paths.output_dir)
    lock = RunLock(output_dir).acquire() if rank_zero_only.rank == 0 else None
    try:
        with exit_on_signal():  # SIGTERM / SIGUSR1: exit code 143, last.ckpt saved (StopOnSignal)
            return _train(cfg, output_dir, started)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: DictConfig, output_dir: Path, started: float) -> dict | None:
    ckpt_dir = output_dir / CHECKPOINT_DIR
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)

    pretrained.check_paper_scale(cfg.model.pretrained, cfg.model.depth)
    no_imagenet = cfg.model.pretrained is None or pretrained.is_scratch(cfg.model.pretrained)
    if cfg.frames.freeze_bn and not cfg.frames.init_checkpoint and no_imagenet:
        rank_zero_warn(
            f"frames={cfg.frames.num_frames} freezes BatchNorm (frames.freeze_bn=true) but starts from no "
            "trained weights: set frames.init_checkpoint=<the 8-frame run's checkpoint> as the paper "
            "does, or frames.freeze_bn=false to train from scratch"
        )
    ckpt_path = resume_checkpoint(cfg, ckpt_dir)
    init_ckpt, weights = None, None
    if ckpt_path is None:
        init_ckpt, weights = initial_weights(cfg)
        if rank_zero_only.rank == 0:
            _start_fresh(cfg, output_dir)
    if rank_zero_only.rank == 0:
        save_config(cfg, output_dir)  # only now: a refused command leaves the run's files as they were
    previous = read_results(output_dir) if ckpt_path else {}
    dm = instantiate(cfg.data, _convert_="all")
    module = build_module(cfg, getattr(dm, "batch_size", None), init_ckpt, weights, clip=clip_settings(dm))
    name = str(cfg.name) + debug_tag(cfg.debug_run)
    loggers = build_loggers(cfg, output_dir, name)
    callbacks = build_callbacks(cfg, ckpt_dir) + [EvaluationOutputs(output_dir)]
    trainer = build_trainer(cfg, output_dir, callbacks, loggers)
    if ckpt_path:
        rank_zero_info(f"resuming run {name!r} from {ckpt_path}")
    if trainer.is_global_zero and ckpt_path:
        keep_curves_up_to(output_dir, checkpoints.global_step(ckpt_path))
    log_config(loggers, cfg)

    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    if trainer.checkpoint_callback is not None and not trainer.interrupted:
        # last.ckpt at the final step too, so rerunning a finished run only re-tests it.
        trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)  # full state: a rerun resumes it

    test_ckpt = None
    best = next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint) and c.monitor), None)
    if cfg.test_ckpt == "best" and best is not None and best.best_model_path:
        test_ckpt = best.best_model_path
    elif (ckpt_dir / "last.ckpt").is_file() and not cfg.trainer.fast_dev_run:
        test_ckpt = str(ckpt_dir / "last.ckpt")
    if test_ckpt:
        checkpoints.check_readable(test_ckpt, "test_ckpt")
    trainer.test(module, datamodule=dm, ckpt_path=test_ckpt, verbose=False, weights_only=True)
    extra = {"checkpoint": test_ckpt, "global_step": int(trainer.global_step), "recipe": module.recipe}
    if best is not None and best.best_model_path and Path(best.best_model_path).is_file():
        extra["best_step"] = checkpoints.global_step(best.best_model_path, "test_ckpt")
    if module.val_results is not None:
        extra["val_top1"] = round(float(module.val_results["top1"]), 4)
        extra["val_top5"] = round(float(module.val_results["top5"]), 4)
    return _finish(cfg, trainer, module, output_dir, loggers, extra, started, "train", previous)


def evaluate(cfg: DictConfig) -> dict | None:
    """Multi-view test of ``cfg.ckpt_path`` with the test-view settings of ``cfg.data``; the
    network and clip settings come from the checkpoint. Testing the same checkpoint with the
    same views again moves the earlier evaluation to previous-N/ first, like a run."""
    started = time.time()
    check_config(cfg)
    _take_global_rank(cfg)
    ckpt = Path(str(cfg.ckpt_path)).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(
            f"ckpt_path={cfg.ckpt_path}: no such checkpoint (e.g. outputs/runs/<name>/checkpoints/best.ckpt)"
        )
    hp = checkpoints.hyper_parameters(ckpt, "ckpt_path")
    overrides = command_line_overrides()
    cfg, data_source = run_data(cfg, ckpt, overrides)
    cfg = from_checkpoint(cfg, hp, ckpt, overrides or [])
    rank_zero_info(
        f"testing {ckpt} on dataset {dataset_name(cfg)!r} (data.format={cfg.data.format}), split "
        f"data.test_split={cfg.data.test_split} under data.root={cfg.data.root}; data config from {data_source}"
    )
    if note := speed_defaults_note(cfg):
        rank_zero_info(note)
    preflight(cfg, ("test",))
    output_dir = Path(cfg.paths.output_dir)
    lock = RunLock(output_dir).acquire() if rank_zero_only.rank == 0 else None
    try:
        if lock is not None:
            _start_fresh(cfg, output_dir)
            save_config(cfg, output_dir)
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        dm = instantiate(cfg.data, _convert_="all")
        # clip: None in checkpoints written before the clip settings were saved
        module = build_module(
            cfg, getattr(dm, "batch_size", None), clip=hp.get("clip"), num_classes=int(hp["num_classes"])
        )
        loggers = build_loggers(cfg, output_dir, str(cfg.name))
        callbacks = build_callbacks(cfg, output_dir / CHECKPOINT_DIR) + [EvaluationOutputs(output_dir)]
        trainer = build_trainer(cfg, output_dir, callbacks, loggers)
        log_config(loggers, cfg)
        with exit_on_signal():
            trainer.test(module, datamodule=dm, ckpt_path=str(ckpt), verbose=False, weights_only=True)
        extra = {"checkpoint": str(ckpt), "global_step": checkpoints.global_step(ckpt, "ckpt_path")}
        return _finish(cfg, trainer, module, output_dir, loggers, extra, started, "retest")
    finally:
        if lock is not None:
            lock.release()
