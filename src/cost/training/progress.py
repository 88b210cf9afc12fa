"""Console output that reads well in a terminal and in a cluster log file.

``SpeedMonitor`` (always on): every N optimizer steps, the clips/s of those steps (Lightning's
``Throughput``, all ranks' clips) and the data-wait share (the time from one training batch's
end to the next one's start, while the loader and the host-to-device copy run, over the step
time) go to every logger as ``train/clips_per_sec`` and ``train/data_wait`` (metrics.csv, W&B).
``PlainProgress``: when stdout is not a terminal (SLURM, nohup, a pipe) a live progress bar
writes almost nothing useful, so plain lines instead, each starting with the local clock time
(``2026-12-04 23:59:01``): one every N optimizer steps (step, loss, top-1, clips/s, data-wait
share, peak GPU memory on CUDA, lr, ETA), one per validation result, and during validation and
test one every N batches or 30 s (plus the test's first and last line).
``StepRichProgressBar``: Lightning's Rich bar without the ``Epoch 3/-2`` counter of step-based
runs (max_epochs=-1). ``FlopRichModelSummary``: the model summary with the FLOPs of one training
clip instead of "Total FLOPs: 0" (Lightning only counts them when the module has an
``example_input_array``).
"""

from __future__ import annotations

import math
import time

import torch
from lightning_fabric.utilities.throughput import Throughput
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import RichModelSummary, RichProgressBar

EVAL_PRINT_SECONDS = 30.0  # an evaluation prints at least this often


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def _scalar(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None else float(value)


def _clips(batch) -> int:
    """Clips (views) in a batch: N for N x C x T x H x W, N x V for N x V x C x T x H x W."""
    clips = batch["clips"] if isinstance(batch, dict) else batch[0]
    return int(math.prod(clips.shape[: clips.dim() - 4]))


def clock() -> str:
    """The local time at the start of every plain progress line."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


class SpeedMonitor(Callback):
    """clips/s and the data-wait share over every ``every_n_steps`` optimizer steps, logged
    (rank zero) to every logger at that step. Validation time counts in neither."""

    def __init__(self, every_n_steps: int = 50) -> None:
        if int(every_n_steps) < 1:
            raise ValueError(f"callbacks.progress_every_n_steps={every_n_steps} must be >= 1")
        self.every = int(every_n_steps)

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._start_step = self._last_step = int(trainer.global_step)
        # window 2: each report compares with the previous one
        self._throughput = Throughput(world_size=trainer.world_size, window_size=2)
        self._throughput.update(time=0.0, batches=0, samples=0)
        self._busy, self._batches, self._samples = 0.0, 0, 0
        self._window_busy, self._window_wait, self._window_batches = 0.0, 0.0, 0
        self._batch_end: float | None = None
        self._batch_start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._batch_end is not None and self._batch_start is not None:  # not the first after a validation
            self._window_wait += self._batch_start - self._batch_end
            self._window_busy += now - self._batch_end
            self._window_batches += 1
            self._samples += _clips(batch)
        self._batch_end = now
        step = int(trainer.global_step)
        if step == self._last_step or step % self.every:
            return
        rate = wait = None
        if self._window_batches:
            self._busy += self._window_busy
            self._batches += self._window_batches
            self._throughput.update(time=self._busy, batches=self._batches, samples=self._samples)
            speed = self._throughput.compute()
            rate = speed.get("samples_per_sec", speed["device/samples_per_sec"])
            wait = self._window_wait / self._window_busy
            if trainer.is_global_zero:
                # the row of this step's train/loss (Lightning's own step count, as LearningRateMonitor logs)
                row = trainer.fit_loop.epoch_loop._batches_that_stepped
                for logger in trainer.loggers:
                    logger.log_metrics({"train/clips_per_sec": rate, "train/data_wait": wait}, step=row)
        self.report(trainer, pl_module, step, rate, wait, now)
        self._last_step = step
        self._window_busy, self._window_wait, self._window_batches = 0.0, 0.0, 0

    def report(self, trainer, pl_module, step: int, rate: float | None, wait: float | None, now: float) -> None:
        """What a subclass prints every ``every_n_steps`` steps."""

    def on_validation_start(self, trainer, pl_module) -> None:
        self._batch_end = None  # the next training batch starts a new interval


class PlainProgress(SpeedMonitor):
    """Plain lines with the clock time (see the module docstring); printed by rank zero."""

    def report(self, trainer, pl_module, step, rate, wait, now) -> None:
        if not trainer.is_global_zero:
            return
        per_step = (now - self._start) / max(step - self._start_step, 1)
        metrics = trainer.callback_metrics
        loss, top1 = _scalar(metrics, "train/loss"), _scalar(metrics, "train/top1")
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        parts = [f"step {step}/{trainer.max_steps}" if trainer.max_steps > 0 else f"step {step}"]
        parts.append("loss -" if loss is None else f"loss {loss:.4f}")
        parts.append("top-1 -" if top1 is None else f"top-1 {top1:.1f}%")
        parts.append("- clips/s" if rate is None else f"{rate:.1f} clips/s")
        parts.append("data wait -" if wait is None else f"data wait {100 * wait:.0f}%")
        if pl_module.device.type == "cuda":
            parts.append(f"GPU mem {torch.cuda.max_memory_allocated(pl_module.device) / 2**30:.1f} GiB")
        parts.append(f"lr {lr:.3g}")
        if trainer.max_steps > 0:
            parts.append(f"ETA {_hms(per_step * (trainer.max_steps - step))}")
        print(f"{clock()} " + " | ".join(parts), flush=True)

    # ---------------------------------------------------------------- validation and test
    def _eval_start(self, trainer, stage: str) -> None:
        self._eval_t0 = self._eval_last = time.perf_counter()
        self._eval_clips = self._eval_videos = 0
        total = (trainer.num_test_batches if stage == "test" else trainer.num_val_batches) or [0]
        self._eval_total = sum(total)

    def _eval_batch(self, trainer, stage: str, batch, batch_idx: int) -> None:
        self._eval_clips += _clips(batch) * trainer.world_size
        clips = batch["clips"] if isinstance(batch, dict) else batch[0]
        self._eval_videos += int(clips.shape[0]) * trainer.world_size
        now, done = time.perf_counter(), batch_idx + 1
        if done % self.every and now - self._eval_last < EVAL_PRINT_SECONDS:
            return
        self._eval_last = now
        if not trainer.is_global_zero:
            return
        elapsed = now - self._eval_t0
        total = self._eval_total
        parts = [f"{stage} batch {done}/{total}" if math.isfinite(total) and total else f"{stage} batch {done}"]
        parts += [f"{self._eval_videos} videos", f"{self._eval_clips / max(elapsed, 1e-9):.1f} clips/s"]
        if math.isfinite(total) and total:
            parts.append(f"ETA {_hms(elapsed / done * (total - done))}")
        print(f"{clock()} " + " | ".join(parts), flush=True)

    def on_validation_start(self, trainer, pl_module) -> None:
        super().on_validation_start(trainer, pl_module)
        self._eval_start(trainer, "validation")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._eval_batch(trainer, "validation", batch, batch_idx)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        top1, top5 = _scalar(metrics, "val/top1"), _scalar(metrics, "val/top5")
        if top1 is not None:
            print(
                f"{clock()} validation at step {trainer.global_step} | top-1 {top1:.2f}% | top-5 {top5:.2f}%",
                flush=True,
            )

    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "test")
        if trainer.is_global_zero:
            print(f"{clock()} test: {self._eval_total} batches", flush=True)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch(trainer, "test", batch, batch_idx)

    def on_test_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            elapsed = time.perf_counter() - self._eval_t0
            print(
                f"{clock()} test done: {self._eval_videos} videos, {self._eval_clips} clips in {_hms(elapsed)}",
                flush=True,
            )


class StepRichProgressBar(RichProgressBar):
    """No ``/-2`` after the epoch number when the run is measured in steps (max_epochs=-1)."""

    def _get_train_description(self, current_epoch: int) -> str:  # Lightning's private hook
        text = super()._get_train_description(current_epoch)
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs < 0:
            text = text.replace(f"/{max_epochs - 1}", "")
        return text


class FlopRichModelSummary(RichModelSummary):
    """Counts FLOPs with one eval-mode forward of a zero clip of the training shape
    (batch 1, ``data.num_frames`` x ``data.train_crop``^2) straight through the network, so
    the batch-transfer hooks never see it."""

    def _summary(self, trainer, pl_module):
        summary = super()._summary(trainer, pl_module)
        dm = trainer.datamodule
        frames, crop = getattr(dm, "num_frames", None), getattr(dm, "train_crop", None)
        counter = getattr(summary, "_flop_counter", None)  # Lightning's FlopCounterMode of the summary
        if pl_module.example_input_array is not None or counter is None or not frames or not crop:
            return summary
        clip = torch.zeros(1, 3, int(frames), int(crop), int(crop), device=pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad(), torch.compiler.set_stance("force_eager"), counter:
                pl_module(clip)
        finally:
            pl_module.train(was_training)
        return summary
