"""The callbacks a run's config asks for: checkpoints (last.ckpt for resume, the best by
``callbacks.monitor``), early stopping, the EMA weights, progress and the model summary; and
the preemption handler (``preemption.StopOnSignal``). Loggers: ``loggers.build_loggers``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pytorch_lightning.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
    WeightAveraging,
)
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info
from torch.optim.swa_utils import get_ema_multi_avg_fn

from .config import section
from .loggers import _has_logger, build_loggers, log_config
from .preemption import SIGNAL_EXIT_CODE, StopOnSignal, exit_on_signal
from .progress import FlopRichModelSummary, PlainProgress, SpeedMonitor, StepRichProgressBar
from .schedules import OptimConfig

# Kept importable from here: the tests, docs/run-directory.md and older scripts name them so.
__all__ = [
    "SIGNAL_EXIT_CODE",
    "CallbacksConfig",
    "build_callbacks",
    "build_loggers",
    "check_callbacks",
    "exit_on_signal",
    "log_config",
]


@dataclass(frozen=True)
class CallbacksConfig:
    """The ``callbacks`` section (conf/callbacks/*.yaml, which hold the values and their meaning)."""

    checkpoint_every_n_steps: int | None
    monitor: str | None
    rich_progress: bool
    plain_progress: bool | str
    progress_every_n_steps: int | None
    model_summary_depth: int
    lr_monitor: bool
    early_stopping_patience: int | None

    @classmethod
    def of(cls, node) -> CallbacksConfig:
        return section(cls, node, "callbacks")


def check_callbacks(node) -> None:
    """Early stopping needs a whole patience and the monitor it follows (preflight checks it too)."""
    c = CallbacksConfig.of(node)
    patience = c.early_stopping_patience
    if patience is None:
        return
    if not (isinstance(patience, int) and not isinstance(patience, bool) and patience >= 1):
        raise ValueError(f"callbacks.early_stopping_patience={patience!r} must be null (off) or a whole number >= 1")
    if not c.monitor:
        raise ValueError("callbacks.early_stopping_patience needs callbacks.monitor (e.g. val/top1) to follow")


def build_callbacks(cfg, ckpt_dir: Path) -> list:
    c = CallbacksConfig.of(cfg.callbacks)
    callbacks: list[Callback] = []
    every = c.checkpoint_every_n_steps
    if every and not cfg.trainer.fast_dev_run:
        # last.ckpt for resume: written every N optimizer steps (and at the end of fit).
        last = LastCheckpoint(
            dirpath=ckpt_dir,
            filename="step{step:06d}",
            auto_insert_metric_name=False,
            every_n_train_steps=int(every),
            save_top_k=0,
            save_last=True,
            save_on_train_epoch_end=False,
        )
        callbacks.append(last)
        if c.monitor:
            # Best validation top-1 (checked at every validation).
            callbacks.append(
                ModelCheckpoint(
                    dirpath=ckpt_dir,
                    filename="best",
                    monitor=c.monitor,
                    mode="max",
                    save_top_k=1,
                    save_last=False,
                    auto_insert_metric_name=False,
                    enable_version_counter=False,
                )
            )
    check_callbacks(c)
    if c.early_stopping_patience is not None:
        callbacks.append(
            StopEarly(monitor=c.monitor, mode="max", patience=c.early_stopping_patience, check_on_train_epoch_end=False)
        )
    ema = OptimConfig.of(cfg.optim).ema_decay
    if ema is not None:
        callbacks.append(EMAWeights(float(ema)))
    callbacks.append(StopOnSignal(Path(ckpt_dir) / "last.ckpt"))
    if c.lr_monitor and _has_logger(cfg.logger):
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    plain = c.plain_progress
    if plain == "auto":
        plain = not sys.stdout.isatty()  # a log file (SLURM, nohup): lines, not a live bar
    # 50: what Lightning logs at when trainer.log_every_n_steps is null.
    progress_every = int(c.progress_every_n_steps or cfg.trainer.log_every_n_steps or 50)
    if plain:
        callbacks.append(PlainProgress(progress_every))  # lines with clips/s and data wait, both logged too
    else:
        callbacks += [SpeedMonitor(progress_every), StepRichProgressBar() if c.rich_progress else TQDMProgressBar()]
    callbacks.append(FlopRichModelSummary(max_depth=int(c.model_summary_depth)))
    return callbacks


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt every N steps; on a step that is also validated, written after that validation.

    Lightning's resume skips the validation of the checkpoint's step when the checkpoint was
    written before it (as ``every_n_train_steps`` does, at train-batch end): a run killed during
    that validation would never have it. Written at validation end (Lightning's own deferred
    save), a kill during the validation resumes from the previous last.ckpt and validates again.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        every = self._every_n_train_steps
        loop = trainer.fit_loop.epoch_loop
        if every and trainer.global_step % every == 0 and loop._should_check_val_fx(trainer.fit_loop._data_fetcher):
            self._defer_save_until_validation = True  # saved in on_validation_end
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class StopEarly(EarlyStopping):
    """Lightning's ``EarlyStopping`` on the monitor the best checkpoint follows, checked after each
    validation: ``patience`` validations without a higher value stop the fit, which then tests
    as usual. The step it stopped at is kept in the checkpoint and in results.json
    (``recipe.stopped_early_at_step``), so rerunning the run re-tests it instead of training on."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stopped_step: int | None = None

    def _run_early_stopping_check(self, trainer) -> None:
        super()._run_early_stopping_check(trainer)
        if trainer.should_stop and self.stopped_step is None:
            self.stopped_step = int(trainer.global_step)
            rank_zero_info(
                f"early stopping at step {self.stopped_step}: {self.monitor} has not risen above "
                f"{float(self.best_score):.4g} in {self.wait_count} validation(s) (callbacks.early_stopping_patience)"
            )

    def on_train_start(self, trainer, pl_module) -> None:
        if self.stopped_step is not None:  # resumed from the checkpoint of a run that had stopped
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self.stopped_step is not None and isinstance(getattr(pl_module, "recipe", None), dict):
            pl_module.recipe["stopped_early_at_step"] = self.stopped_step

    def state_dict(self) -> dict:
        return {**super().state_dict(), "stopped_step": self.stopped_step}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.stopped_step = state_dict.get("stopped_step")


class EMAWeights(WeightAveraging):
    """An exponential moving average of the weights (``torch.optim.swa_utils.AveragedModel``,
    BatchNorm statistics averaged too), updated after every optimizer step. Lightning's
    ``WeightAveraging`` validates with it, writes it as the checkpoints' ``state_dict`` (the raw
    weights under ``current_model_state``, restored on resume) and copies it into the network
    when training ends, so best.ckpt, last.ckpt, the test, eval.py and predict.py use the EMA."""

    def __init__(self, decay: float) -> None:
        super().__init__(use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self._raw_state: dict | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            if getattr(pl_module, "net", True) is None:
                pl_module.setup(stage)  # the network, built from the data's class count, is what is averaged
            self._device = trainer.strategy.root_device  # the module is still on the CPU here
        super().setup(trainer, pl_module, stage)

    def on_train_end(self, trainer, pl_module) -> None:
        """The raw weights stay in the checkpoint written after the fit (a longer rerun resumes them)."""
        self._raw_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        if self._raw_state is not None and "current_model_state" in checkpoint:
            checkpoint["current_model_state"] = self._raw_state

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        """Only a resumed fit takes the raw weights back; the test after the fit evaluates the
        checkpoint's ``state_dict``, the EMA (Lightning would load the raw weights there too)."""
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
