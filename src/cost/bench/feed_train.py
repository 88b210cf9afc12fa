"""The model's side of the feed benchmark (`feed`): train steps on clips already on the device,
and `trainer.fit` on the real data module, in clips per second."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F


def device() -> torch.device:
    """The device the feed benchmark times on: the GPU where there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _net(arch: str, depth, channels_last: bool = False, compile: bool = False):
    from cost.models.factory import build_net

    return build_net({"arch": arch, "depth": depth, "channels_last": channels_last, "compile": compile}, 400)


def model_clips_per_s(
    arch,
    depth,
    batch: int,
    steps: int,
    warmup: int,
    precision: str,
    channels_last: bool = False,
    compile: bool = False,
    crop: int = 224,
) -> float:
    """Train steps (forward, backward, SGD) on synthetic clips already on the device."""
    dev = device()
    net = _net(arch, depth, channels_last, compile).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    clip = torch.randn(batch, 3, 8, crop, crop, device=dev)
    if channels_last:
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    label = torch.randint(0, 400, (batch,), device=dev)
    dtype = torch.bfloat16 if precision.startswith("bf16") else None

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(net(clip), label)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


class _StepTimer:
    """Lightning callback: wall time of the training batches after `warmup`."""

    def __init__(self, warmup: int):
        import pytorch_lightning as pl

        class Timer(pl.Callback):
            def __init__(cb):
                cb.start, cb.clips = None, 0

            def on_train_batch_end(cb, trainer, module, outputs, batch, batch_idx):
                if trainer.global_step == warmup:
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    cb.start = time.perf_counter()
                elif trainer.global_step > warmup:
                    cb.clips += int(batch["clips"].shape[0])

            def on_train_end(cb, trainer, module):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                assert cb.start is not None, f"training stopped before step {warmup}, the end of the warm-up"
                cb.seconds = time.perf_counter() - cb.start

        self.callback = Timer()


def e2e_clips_per_s(
    root: Path, workers: int, device_transforms: bool, p: dict, channels_last: bool = False, compile: bool = False
) -> float:
    """`trainer.fit` of the VideoClassifier on the real data module: clips/s after warm-up."""
    import pytorch_lightning as pl

    from cost.training.module import VideoClassifier
    from cost.training.schedules import recipe_file

    # The paper's recipe with every key, at a fixed lr and no decay steps.
    optim = {**recipe_file("paper"), "lr": 0.01, "scale_lr": False}
    optim["scheduler"]["milestones"] = []
    timer = _StepTimer(p["warmup"])
    module = VideoClassifier(
        model={"arch": p["arch"], "depth": p["depth"], "channels_last": channels_last, "compile": compile},
        optim=optim,
        num_classes=2,
        batch_size=p["batch"],
    )
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        precision=p["precision"],
        max_steps=p["warmup"] + p["steps"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        benchmark=torch.cuda.is_available(),
        callbacks=[timer.callback],
    )
    from cost.bench.feed import datamodule

    trainer.fit(module, datamodule=datamodule(root, workers, device_transforms, p["batch"], p["model_crop"]))
    return timer.callback.clips / timer.callback.seconds
