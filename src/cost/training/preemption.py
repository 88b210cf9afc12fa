"""Preemption: SIGTERM or SIGUSR1 (SLURM preemption, scancel, time limit) saves last.ckpt at
the current step and ends the run with ``SIGNAL_EXIT_CODE``; rerunning the command resumes."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from pytorch_lightning.callbacks import Callback
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_warn
from pytorch_lightning.utilities.exceptions import SIGTERMException

# The exit code of a run stopped by SIGTERM or SIGUSR1 (128 + SIGTERM, what a shell reports for
# a SIGTERM'd process): not 0, so SLURM, sweeps and scripts see an unfinished run.
SIGNAL_EXIT_CODE = 143


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
