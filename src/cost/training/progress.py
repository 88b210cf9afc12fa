"""Console output that reads well in a terminal and in a cluster log file.

``PlainProgress``: when stdout is not a terminal (SLURM, nohup, a pipe) a live progress bar
writes almost nothing useful, so one plain line every N optimizer steps instead: step, loss,
top-1, clips/s, learning rate and ETA. ``StepRichProgressBar``: Lightning's Rich bar without
the ``Epoch 3/-2`` counter of step-based runs (max_epochs=-1). ``FlopRichModelSummary``: the
model summary with the FLOPs of one training clip instead of "Total FLOPs: 0" (Lightning only
counts them when the module has an ``example_input_array``).
"""

from __future__ import annotations

import time

import torch
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import RichModelSummary, RichProgressBar


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def _scalar(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None else float(value)


class PlainProgress(Callback):
    """One line per ``every_n_steps`` optimizer steps and one per validation (rank zero)."""

    def __init__(self, every_n_steps: int = 50) -> None:
        if int(every_n_steps) < 1:
            raise ValueError(f"callbacks.progress_every_n_steps={every_n_steps} must be >= 1")
        self.every = int(every_n_steps)

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = self._last_time = time.perf_counter()
        self._start_step = self._last_step = int(trainer.global_step)
        self._clips = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        clips = batch["clips"] if isinstance(batch, dict) else batch[0]
        self._clips += int(clips.shape[0]) * trainer.world_size
        step = int(trainer.global_step)
        if step == self._last_step or step % self.every:
            return
        now = time.perf_counter()
        rate = self._clips / max(now - self._last_time, 1e-9)
        per_step = (now - self._start) / max(step - self._start_step, 1)
        metrics = trainer.callback_metrics
        loss, top1 = _scalar(metrics, "train/loss"), _scalar(metrics, "train/top1")
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        parts = [f"step {step}/{trainer.max_steps}" if trainer.max_steps > 0 else f"step {step}"]
        parts.append("loss -" if loss is None else f"loss {loss:.4f}")
        parts.append("top-1 -" if top1 is None else f"top-1 {top1:.1f}%")
        parts += [f"{rate:.1f} clips/s", f"lr {lr:.3g}"]
        if trainer.max_steps > 0:
            parts.append(f"ETA {_hms(per_step * (trainer.max_steps - step))}")
        if trainer.is_global_zero:
            print(" | ".join(parts), flush=True)
        self._last_time, self._last_step, self._clips = now, step, 0

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        top1, top5 = _scalar(metrics, "val/top1"), _scalar(metrics, "val/top5")
        if top1 is not None:
            print(f"validation at step {trainer.global_step} | top-1 {top1:.2f}% | top-5 {top5:.2f}%", flush=True)


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
