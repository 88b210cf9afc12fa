"""Callbacks and loggers of a run, built from the config (rank-zero side effects only)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf
from pytorch_lightning.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
    WeightAveraging,
)
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.optim.swa_utils import get_ema_multi_avg_fn

from .config import section
from .progress import FlopRichModelSummary, PlainProgress, SpeedMonitor, StepRichProgressBar

WANDB_ID_FILE = "wandb_id.txt"
# The exit code of a run stopped by SIGTERM or SIGUSR1 (128 + SIGTERM, what a shell reports for
# a SIGTERM'd process): not 0, so SLURM, sweeps and scripts see an unfinished run.
SIGNAL_EXIT_CODE = 143


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
    callbacks = []
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
    ema = cfg.optim.get("ema_decay") if "optim" in cfg else None
    if ema is not None:
        callbacks.append(EMAWeights(float(ema)))
    callbacks.append(StopOnSignal(Path(ckpt_dir) / "last.ckpt"))
    if c.lr_monitor and _has_logger(cfg):
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


class StopOnSignal(Callback):
    """SIGTERM or SIGUSR1 (SLURM preemption, scancel, time limit): a full last.ckpt at the
    current step, then the run exits with ``SIGNAL_EXIT_CODE`` (runner.train).

    Lightning's signal connector does the catching: SIGTERM sets ``trainer.received_sigterm``
    and its loops raise ``SIGTERMException`` at the end of the step (or after the current
    validation batch); this saves the checkpoint in ``on_exception``. SIGUSR1 is sent on as
    SIGTERM, unless Lightning's SLURM requeue holds it (plain sbatch): that requeues the job,
    and SLURM's SIGTERM then saves. Every checkpoint write first flushes the metric rows, so
    the files hold every step the checkpoint covers.
    """

    def __init__(self, last_path: Path) -> None:
        self.last_path = Path(last_path)
        self._usr1_taken = False

    def on_train_start(self, trainer, pl_module) -> None:
        # Here, not at setup: Lightning installs its handlers (SLURM requeue on SIGUSR1) just before.
        usr1 = signal.getsignal(signal.SIGUSR1)
        if threading.current_thread() is threading.main_thread() and usr1 in (signal.SIG_DFL, None):
            signal.signal(signal.SIGUSR1, _resend_as_sigterm)
            self._usr1_taken = True

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._usr1_taken:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            self._usr1_taken = False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        """Called while the checkpoint is built, before its file is written and renamed."""
        for logger in trainer.loggers:
            logger.save()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        step = int(trainer.global_step)
        fitting = trainer.state.fn == TrainerFn.FITTING
        if fitting and trainer.checkpoint_callback is not None and trainer.training and step > 0:
            trainer.save_checkpoint(self.last_path, weights_only=False)
            what = f"saved {self.last_path} at step {step}"
        elif fitting and trainer.checkpoint_callback is not None:
            # Mid-validation: the previous last.ckpt stays; the resume redoes the steps since and
            # this validation (a checkpoint written now would skip it).
            what = f"stopped at step {step} before its validation finished; {self.last_path.name} is kept as it was"
        elif fitting:
            what = f"stopped at step {step}; no checkpoint is written (callbacks.checkpoint_every_n_steps is null)"
        else:
            what = "stopped during the test"
        rank_zero_warn(
            f"stopped by a signal: {what}. No results.json; exit code {SIGNAL_EXIT_CODE}. "
            f"Rerun the same command to {'resume' if fitting else 'test again'}."
        )


def _resend_as_sigterm(signum, frame) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def exit_on_signal():
    """Lightning's ``SIGTERMException`` is a ``SystemExit`` with code 0: the process would
    report success. It becomes ``SIGNAL_EXIT_CODE``."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(SIGNAL_EXIT_CODE) from None


def _has_logger(cfg) -> bool:
    """Any logger on: each ``logger.<key>`` with a config is built (see ``build_loggers``)."""
    return any(bool(node) for node in cfg.logger.values())


def _wandb_mode(requested) -> str:
    """Online only when asked (WANDB_MODE / logger.wandb.mode) or logged in; else offline."""
    if requested:
        return str(requested)
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    try:
        if netrc.is_file() and "api.wandb.ai" in netrc.read_text():
            return "online"
    except OSError:
        pass
    return "offline"


def wandb_run_id(output_dir: Path) -> str:
    """The run's W&B id, kept in the run directory so a resumed run continues the same W&B run."""
    path = Path(output_dir) / WANDB_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    if rank_zero_only.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id + "\n")
    return run_id


def _wandb_options() -> set[str]:
    """Every key a ``WandbLogger`` config may hold: its own arguments and ``wandb.init``'s."""
    import inspect

    import wandb

    own = set(inspect.signature(WandbLogger.__init__).parameters) - {"self", "kwargs"}
    return own | set(inspect.signature(wandb.init).parameters)


def _wandb_overrides(node, output_dir: Path) -> dict:
    """Only what the config leaves null and this project decides: the mode (offline unless
    logged in) and the run id (kept in the run directory, so a resume continues the W&B run).
    Other null fields stay null, so W&B's own defaults and variables (WANDB_ENTITY,
    WANDB_RUN_GROUP, WANDB_TAGS, ...) apply."""
    unknown = sorted(set(node) - {"_target_"} - _wandb_options())
    if unknown:
        raise ValueError(
            f"logger.wandb.{unknown[0]} is not an option of WandbLogger or wandb.init "
            f"(unknown: {', '.join(unknown)}); see their documentation for the valid keys"
        )
    # Every key of a WandbLogger config is optional (W&B has its own defaults), mode and id too.
    mode = _wandb_mode(node.get("mode"))
    os.environ.setdefault("WANDB_MODE", mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    out = {"mode": mode}
    if node.get("id") is None and not os.environ.get("WANDB_RUN_ID"):
        out["id"] = wandb_run_id(output_dir)
    return out


def build_loggers(cfg, output_dir: Path, name: str) -> list:
    """Every ``logger.<key>`` with a ``_target_`` (conf/logger/*.yaml), built by Hydra with all
    its keys, so any option of the logger class works; null entries are off."""
    from hydra.utils import get_class, instantiate

    loggers = []
    for key, node in cfg.logger.items():
        if not node:
            continue
        if "_target_" not in node:
            raise ValueError(f"logger.{key} has no _target_: give the logger class (see conf/logger/wandb.yaml)")
        extra = {}
        if issubclass(get_class(node._target_), WandbLogger):
            extra = _wandb_overrides(node, output_dir)
        loggers.append(instantiate(node, **extra, _convert_="all"))
    return loggers


def log_config(loggers: list, cfg) -> None:
    """The resolved config as hyper-parameters of every logger."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(container)
